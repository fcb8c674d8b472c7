"""regions: load Jilin's statistical divisions from the packaged table

Revision ID: 0003
Revises: 0002
"""

import csv
from importlib.resources import files

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

regions = sa.table(
    "regions",
    sa.column("code", sa.Text),
    sa.column("name", sa.Text),
    sa.column("level", sa.Text),
    sa.column("parent_code", sa.Text),
)


def upgrade() -> None:
    # The table is packaged with the service (fupin_registry/regions/jilin-divisions.csv) so the
    # migration never depends on files outside the package.
    source = files("fupin_registry.regions").joinpath("jilin-divisions.csv")
    with source.open(encoding="utf-8", newline="") as handle:
        rows = [
            {
                "code": row["code"],
                "name": row["name"],
                "level": row["level"],
                "parent_code": row["parent_code"] or None,
            }
            for row in csv.DictReader(handle)
        ]
    op.bulk_insert(regions, rows)
    # Vacuum and analyse now, outside the migration's transaction, so that autovacuum has no
    # reason to visit a freshly migrated database (an autovacuum worker on a database makes
    # DROP DATABASE ... WITH (FORCE) fail for a non-superuser, as in test teardown).
    with op.get_context().autocommit_block():
        op.execute("VACUUM ANALYZE regions")


def downgrade() -> None:
    op.execute("DELETE FROM regions")
