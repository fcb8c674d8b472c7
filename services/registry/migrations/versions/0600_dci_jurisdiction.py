"""dci: the requesting token's jurisdiction on each DCI transaction

One partner client may hold tokens of different jurisdictions; a transaction's stored reply
is replayed by txn/status only to a token whose jurisdiction covers the one it was requested
with (subscriptions already keep theirs). The jurisdiction of transactions recorded before
this revision is unknown: they are given the whole province, ``22``, so only a province-wide
token can read them back — never a narrower one.

Revision ID: 0600
Revises: 0500
"""

import sqlalchemy as sa
from alembic import op

revision = "0600"
down_revision = "0500"
branch_labels = None
depends_on = None

PROVINCE = "22"


def upgrade() -> None:
    op.add_column(
        "dci_transactions",
        sa.Column("jurisdiction", sa.Text(), server_default=PROVINCE, nullable=False),
    )
    # Only the existing rows take the default; every new row names its token's jurisdiction.
    op.alter_column("dci_transactions", "jurisdiction", server_default=None)


def downgrade() -> None:
    op.drop_column("dci_transactions", "jurisdiction")
