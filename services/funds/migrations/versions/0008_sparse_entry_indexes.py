"""ledger: indexes of the sparse entry references cover only the entries that have them

Most entries name no loan, no allocation, no reversed entry, and project payments to payees no
household: indexing their NULLs only cost each posting an index insertion per column. Lookups
by these columns (``= $1``) imply ``IS NOT NULL`` and use the partial indexes the same way; the
reversal's uniqueness is unchanged (NULLs never conflicted).

Revision ID: 0008
Revises: 0007
"""

from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

SPARSE = (
    ("ix_ledger_entries_household_id", "household_id", False),
    ("ix_ledger_entries_loan_id", "loan_id", False),
    ("ix_ledger_entries_allocation_id", "allocation_id", False),
    ("uq_ledger_entries_reverses", "reverses_entry_id", True),
)


def upgrade() -> None:
    for name, column, unique in SPARSE:
        op.drop_index(name, table_name="ledger_entries")
        op.create_index(
            name,
            "ledger_entries",
            [column],
            unique=unique,
            postgresql_where=f"{column} IS NOT NULL",
        )


def downgrade() -> None:
    for name, column, unique in SPARSE:
        op.drop_index(name, table_name="ledger_entries")
        op.create_index(name, "ledger_entries", [column], unique=unique)
