"""announcements: the day an upheld objection withdrew what was announced

Revision ID: 0015
Revises: 0014
"""

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("announcements", sa.Column("withdrawn_on", sa.Date(), nullable=True))


def downgrade() -> None:
    op.drop_column("announcements", "withdrawn_on")
