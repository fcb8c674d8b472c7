"""outbox: rows Kafka refuses for good are parked with the reason (fupin_kit.relay)

Revision ID: 0003
Revises: 0002
"""

from fupin_kit.migrations import add_outbox_parking, drop_outbox_parking

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    add_outbox_parking()


def downgrade() -> None:
    drop_outbox_parking()
