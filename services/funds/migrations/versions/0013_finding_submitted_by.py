"""findings: who reported the rectification, so that someone else reviews it

Revision ID: 0013
Revises: 0012
"""

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("findings", sa.Column("submitted_by", sa.Text(), nullable=True))


def downgrade() -> None:
    op.drop_column("findings", "submitted_by")
