"""loans: the risk compensation paid on a loan is kept as a running total

A defaulted loan is compensated from the county's risk-compensation fund at most up to its
outstanding principal, over all payments together; the total paid so far is kept on the loan row
(locked by every loan command), so each payment is checked against what remains.

Revision ID: 0009
Revises: 0008
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "loans",
        sa.Column("compensated_fen", sa.BigInteger(), server_default="0", nullable=False),
    )
    # Loans compensated before the total was kept: their compensation entries give it.
    op.execute(
        "UPDATE loans SET compensated_fen = paid.total FROM ("
        " SELECT loan_id, sum(amount_fen) AS total FROM ledger_entries"
        " WHERE kind = 'risk_compensation' AND loan_id IS NOT NULL GROUP BY loan_id"
        ") AS paid WHERE paid.loan_id = loans.id"
    )


def downgrade() -> None:
    op.drop_column("loans", "compensated_fen")
