"""loan_subsidies.reversed_on: an interest subsidy reversed through the ledger keeps its row,
marked; its period may then be paid again (the unique period covers unreversed rows only)

Revision ID: 0019
Revises: 0018
"""

import sqlalchemy as sa
from alembic import op

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("loan_subsidies", sa.Column("reversed_on", sa.Date(), nullable=True))
    op.drop_index("uq_loan_subsidies_period", table_name="loan_subsidies")
    op.create_index(
        "uq_loan_subsidies_period",
        "loan_subsidies",
        ["loan_id", "period_start"],
        unique=True,
        postgresql_where=sa.text("reversed_on IS NULL"),
    )


def downgrade() -> None:
    op.drop_index("uq_loan_subsidies_period", table_name="loan_subsidies")
    op.execute("DELETE FROM loan_subsidies WHERE reversed_on IS NOT NULL")
    op.create_index(
        "uq_loan_subsidies_period", "loan_subsidies", ["loan_id", "period_start"], unique=True
    )
    op.drop_column("loan_subsidies", "reversed_on")
