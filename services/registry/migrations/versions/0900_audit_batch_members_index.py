"""audit_log: a GIN index on the members of eligibility batch records, so that the checks about
one person (check history, a household's access log) are found without reading every batch

Revision ID: 0900
Revises: 0800
"""

from alembic import op

revision = "0900"
down_revision = "0800"
branch_labels = None
depends_on = None

# Also named in migrations/env.py: the kit's model of audit_log cannot declare it.
INDEX = "ix_audit_log_batch_members"


def upgrade() -> None:
    op.execute(
        f"CREATE INDEX {INDEX} ON audit_log USING gin ((details->'members') jsonb_path_ops)"
        " WHERE action = 'eligibility.check' AND object_type = 'eligibility_batch'"
    )


def downgrade() -> None:
    op.drop_index(INDEX, table_name="audit_log")
