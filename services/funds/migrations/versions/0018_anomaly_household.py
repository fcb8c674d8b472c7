"""anomalies.household_id: the household an anomaly about a payment to a household is about, so
that the offices of the household's village (a township below the paying county) see it

Revision ID: 0018
Revises: 0017
"""

import sqlalchemy as sa
from alembic import op

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("anomalies", sa.Column("household_id", sa.Text(), nullable=True))
    # Anomalies recorded before name their household in the evidence.
    op.execute(
        "UPDATE anomalies SET household_id = evidence->>'household_id'"
        " WHERE rule IN ('payment_to_unregistered', 'payment_after_exit_transition',"
        " 'duplicate_payment') AND coalesce(evidence->>'household_id', '') <> ''"
    )


def downgrade() -> None:
    op.drop_column("anomalies", "household_id")
