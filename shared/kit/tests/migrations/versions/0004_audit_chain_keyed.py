"""audit_log.key_id: the chain's hashes are HMACs under a key kept outside the database
(fupin_kit.audit.AuditKeys); rows already written keep their plain SHA-256

Revision ID: 0004
Revises: 0003
"""

from fupin_kit.migrations import key_audit_chain, unkey_audit_chain

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    key_audit_chain(server_append=True)


def downgrade() -> None:
    unkey_audit_chain(server_append=True)
