"""merge the register core, imports and access (eligibility, DCI) branches

Revision ID: 0300
Revises: 0004, 0100, 0200
"""

revision = "0300"
down_revision = ("0004", "0100", "0200")
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
