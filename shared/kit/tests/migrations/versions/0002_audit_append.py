"""the one-statement audit append"""

from fupin_kit.migrations import create_audit_append, drop_audit_append

revision = "0002"
down_revision = "0001"


def upgrade() -> None:
    create_audit_append()


def downgrade() -> None:
    drop_audit_append()
