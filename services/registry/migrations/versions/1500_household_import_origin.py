"""households.import_job_id, households.import_row: the import job a household came from and
the file row of its first row (null for households entered through the API or imported
before these columns existed)

Revision ID: 1500
Revises: 1400
"""

import sqlalchemy as sa
from alembic import op

revision = "1500"
down_revision = "1400"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Nullable columns without a default: added without rewriting the table.
    op.add_column("households", sa.Column("import_job_id", sa.Uuid(), nullable=True))
    op.add_column("households", sa.Column("import_row", sa.Integer(), nullable=True))


def downgrade() -> None:
    op.drop_column("households", "import_row")
    op.drop_column("households", "import_job_id")
