"""read model: the registry's household version, so a late event cannot undo a newer one

Registry household events carry the household's version after the change. The read model keeps
the newest version it applied and skips the fields of an older event (a redelivery after a
rebalance, or an event that overtook another); rows written before this revision have none and
take the next event whatever its version.

Revision ID: 0010
Revises: 0009
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("household_view", sa.Column("registry_version", sa.Integer(), nullable=True))


def downgrade() -> None:
    op.drop_column("household_view", "registry_version")
