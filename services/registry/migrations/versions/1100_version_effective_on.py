"""household_versions.effective_on: the business date from which a version holds, so the register
can be read as in effect on a date (an approval entered late counts from its own date) as well
as as recorded

Revision ID: 1100
Revises: 1000
"""

import sqlalchemy as sa
from alembic import op

revision = "1100"
down_revision = "1000"
branch_labels = None
depends_on = None

TODAY = "((now() AT TIME ZONE 'Asia/Shanghai')::date)"


def upgrade() -> None:
    op.add_column(
        "household_versions",
        sa.Column("effective_on", sa.Date(), server_default=sa.text(TODAY), nullable=False),
    )
    # Earlier versions: the day they were recorded; a status change to identified or exited
    # holds from the registration or exit date it wrote on the household (never later than it
    # was recorded).
    op.execute(
        """
        UPDATE household_versions SET effective_on = LEAST(
            (valid_from AT TIME ZONE 'Asia/Shanghai')::date,
            COALESCE(
                CASE WHEN action = 'status_changed' AND status = 'identified'
                     THEN (snapshot ->> 'registered_on')::date
                     WHEN action = 'status_changed' AND status = 'exited'
                     THEN (snapshot ->> 'exited_on')::date
                END,
                (valid_from AT TIME ZONE 'Asia/Shanghai')::date))
        """
    )
    op.create_index(
        "ix_household_versions_village_effective",
        "household_versions",
        ["village_code", "effective_on"],
    )


def downgrade() -> None:
    op.drop_index("ix_household_versions_village_effective", table_name="household_versions")
    op.drop_column("household_versions", "effective_on")
