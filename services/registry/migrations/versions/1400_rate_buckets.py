"""rate_buckets: the bank and partner rate limits' token buckets, shared by every process and
replica of the registry (fupin_kit.ratelimit)

Revision ID: 1400
Revises: 1300
"""

from fupin_kit.migrations import create_rate_buckets, drop_rate_buckets

revision = "1400"
down_revision = "1300"
branch_labels = None
depends_on = None


def upgrade() -> None:
    create_rate_buckets()


def downgrade() -> None:
    drop_rate_buckets()
