"""audit_log.key_id: the chain's hashes are HMACs under a key kept outside the database
(fupin_kit.audit.AuditKeys); rows already written keep their plain SHA-256

Revision ID: 1200
Revises: 1100
"""

from fupin_kit.migrations import key_audit_chain, unkey_audit_chain

revision = "1200"
down_revision = "1100"
branch_labels = None
depends_on = None


def upgrade() -> None:
    key_audit_chain(server_append=True)


def downgrade() -> None:
    unkey_audit_chain(server_append=True)
