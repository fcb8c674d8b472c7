"""reference_lists.jurisdiction: the region a list was uploaded for, so that a dibao report
compares a jurisdiction with a list covering it; flags: one open flag per household and kind
(two uploads at once could each raise one)

Revision ID: 1000
Revises: 0900
"""

import sqlalchemy as sa
from alembic import op

revision = "1000"
down_revision = "0900"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("reference_lists", sa.Column("jurisdiction", sa.Text(), nullable=True))
    # Lists uploaded before jurisdictions were kept: taken as covering the province.
    op.execute(
        "UPDATE reference_lists SET jurisdiction ="
        " COALESCE((SELECT substr(min(code), 1, 2) FROM regions), '')"
    )
    op.alter_column("reference_lists", "jurisdiction", nullable=False)
    op.create_index(
        "ix_reference_lists_kind_jurisdiction",
        "reference_lists",
        ["kind", "jurisdiction", "created_at"],
    )
    # A second open flag of a kind on one household is closed as a duplicate of the first, by
    # the system: not a review, so its member may be flagged again by a later list (no event:
    # the flag was never reviewed, and its household keeps the first flag open).
    op.execute(
        """
        UPDATE flags f SET status = 'dismissed', resolved_by = 'system', resolved_at = now(),
               resolution_reason = 'duplicate of an open flag of the same kind'
         WHERE f.status = 'open'
           AND EXISTS (SELECT 1 FROM flags g WHERE g.status = 'open'
                          AND g.household_id = f.household_id AND g.kind = f.kind
                          AND (g.created_at, g.id) < (f.created_at, f.id))
        """
    )
    op.drop_index(
        "uq_flags_open_once", table_name="flags", postgresql_where=sa.text("status = 'open'")
    )
    op.create_index(
        "uq_flags_open_once",
        "flags",
        ["household_id", "kind"],
        unique=True,
        postgresql_where=sa.text("status = 'open'"),
    )


def downgrade() -> None:
    op.drop_index(
        "uq_flags_open_once", table_name="flags", postgresql_where=sa.text("status = 'open'")
    )
    op.create_index(
        "uq_flags_open_once",
        "flags",
        ["household_id", "kind", "source"],
        unique=True,
        postgresql_where=sa.text("status = 'open'"),
    )
    op.drop_index("ix_reference_lists_kind_jurisdiction", table_name="reference_lists")
    op.drop_column("reference_lists", "jurisdiction")
