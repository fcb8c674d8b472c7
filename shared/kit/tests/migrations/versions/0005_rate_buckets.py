"""rate_buckets: token buckets shared by every process of the service (fupin_kit.ratelimit)

Revision ID: 0005
Revises: 0004
"""

from fupin_kit.migrations import create_rate_buckets, drop_rate_buckets

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    create_rate_buckets()


def downgrade() -> None:
    drop_rate_buckets()
