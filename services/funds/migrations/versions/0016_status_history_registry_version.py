"""household_status_history.registry_version: the registry's household version of the event a
status came with, so a status event delivered late (after a newer one) takes its place in the
registry's order instead of the order of arrival

Revision ID: 0016
Revises: 0015
"""

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Statuses stored before: no version; they keep their arrival order, before any versioned one.
    op.add_column(
        "household_status_history", sa.Column("registry_version", sa.Integer(), nullable=True)
    )


def downgrade() -> None:
    op.drop_column("household_status_history", "registry_version")
