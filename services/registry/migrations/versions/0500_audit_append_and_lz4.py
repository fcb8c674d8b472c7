"""audit: one-statement appends, and lz4 for the details of audit records

Every answered bank check waits for its audit record's commit. The eligibility audit writer
appends a flush of records with one statement (``audit_append_many``, the kit's function: the
same chain, computed by the server) instead of five round trips, each of which waited for the
busy event loop. A batch of checks is audited as one record whose details list every check
(about 165 KB of JSON for 1,000 checks); such details are compressed on insert: with the
default pglz that cost PostgreSQL about 7.6 ms of CPU per batch, with lz4 about 1.7 ms.

Revision ID: 0500
Revises: 0400
"""

from fupin_kit.migrations import (
    compress_with_lz4,
    create_audit_append,
    default_compression,
    drop_audit_append,
)

revision = "0500"
down_revision = "0400"
branch_labels = None
depends_on = None

COMPRESSED = (("audit_log", "details"),)


def upgrade() -> None:
    create_audit_append()
    compress_with_lz4(COMPRESSED)


def downgrade() -> None:
    default_compression(COMPRESSED)
    drop_audit_append()
