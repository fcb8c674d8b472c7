"""reference data and read models: regions, households, county assessments

Revision ID: 0002
Revises: 0001
"""

import csv
from importlib import resources

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "regions",
        sa.Column("code", sa.Text(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("level", sa.Text(), nullable=False),
        sa.Column("parent_code", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("code", name=op.f("pk_regions")),
    )
    op.create_index("ix_regions_parent_code", "regions", ["parent_code"], unique=False)
    op.create_table(
        "household_view",
        sa.Column("household_id", sa.Text(), nullable=False),
        sa.Column("village_code", sa.Text(), nullable=False),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column("member_count", sa.Integer(), nullable=False),
        sa.Column("member_indexes", postgresql.ARRAY(sa.Text()), nullable=False),
        sa.Column("registered_on", sa.Date(), nullable=True),
        sa.Column("status_since", sa.Date(), nullable=True),
        sa.Column("exited_on", sa.Date(), nullable=True),
        sa.Column("removed_on", sa.Date(), nullable=True),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("household_id", name=op.f("pk_household_view")),
    )
    op.create_index(
        "ix_household_view_member_indexes",
        "household_view",
        ["member_indexes"],
        unique=False,
        postgresql_using="gin",
    )
    op.create_index(
        "ix_household_view_village_code", "household_view", ["village_code"], unique=False
    )
    op.create_table(
        "household_status_history",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("household_id", sa.Text(), nullable=False),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column("effective_on", sa.Date(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_household_status_history")),
    )
    op.create_index(
        "ix_household_status_history_household",
        "household_status_history",
        ["household_id", "effective_on"],
        unique=False,
    )
    op.create_table(
        "county_assessments",
        sa.Column("assessment_id", sa.Text(), nullable=False),
        sa.Column("county_code", sa.Text(), nullable=False),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("score", sa.Numeric(precision=7, scale=3), nullable=False),
        sa.Column("grade", sa.Text(), nullable=False),
        sa.Column("gdp_excluded", sa.Boolean(), nullable=False),
        sa.Column("published_on", sa.Date(), nullable=False),
        sa.PrimaryKeyConstraint("assessment_id", name=op.f("pk_county_assessments")),
    )
    op.create_index(
        "ix_county_assessments_county", "county_assessments", ["county_code", "year"], unique=False
    )

    load_divisions()


def load_divisions() -> None:
    """Jilin's division codes, from the CSV packaged with the service (reference data)."""
    regions = sa.table(
        "regions",
        sa.column("code"),
        sa.column("name"),
        sa.column("level"),
        sa.column("parent_code"),
    )
    source = resources.files("fupin_funds.regions").joinpath("data/jilin-divisions.csv")
    with source.open(encoding="utf-8") as handle:
        rows = [
            {
                "code": r["code"],
                "name": r["name"],
                "level": r["level"],
                "parent_code": r["parent_code"] or None,
            }
            for r in csv.DictReader(handle)
        ]
    op.bulk_insert(regions, rows)


def downgrade() -> None:
    op.drop_table("county_assessments")
    op.drop_table("household_status_history")
    op.drop_table("household_view")
    op.drop_table("regions")
