"""quotas: the people an identification counted against the quota, kept on its case

A quota is the scale of identification in a year: the people of the households approved that
year. It is counted when the county approves and kept on the case, so later exits, removals,
departures or members added afterwards neither free places nor use them. Cases approved before
this revision are given the current members of their household, the best figure left.

Revision ID: 0700
Revises: 0600
"""

import sqlalchemy as sa
from alembic import op

revision = "0700"
down_revision = "0600"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("cases", sa.Column("people_counted", sa.Integer(), nullable=True))
    op.execute(
        """
        UPDATE cases SET people_counted = (
          SELECT count(*) FROM members m
           WHERE m.household_id = cases.household_id AND m.left_on IS NULL
        )
        WHERE kind = 'identification' AND state = 'approved'
        """
    )
    op.create_index(
        "ix_cases_counted_by_village",
        "cases",
        ["village_code", "last_step_on"],
        postgresql_where=sa.text("people_counted IS NOT NULL"),
    )


def downgrade() -> None:
    op.drop_index("ix_cases_counted_by_village", table_name="cases")
    op.drop_column("cases", "people_counted")
