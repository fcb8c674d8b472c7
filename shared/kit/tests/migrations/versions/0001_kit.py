"""kit tables and the sample widgets table"""

import sqlalchemy as sa
from alembic import op

from fupin_kit.migrations import create_kit_tables

revision = "0001"
down_revision = None


def upgrade() -> None:
    create_kit_tables()
    op.create_table(
        "widgets",
        sa.Column("id", sa.Text, primary_key=True),
        sa.Column("region_code", sa.Text, nullable=False),
        sa.Column("owner_id", sa.Text, nullable=False),
        sa.Column("amount", sa.Text, nullable=False),
    )
