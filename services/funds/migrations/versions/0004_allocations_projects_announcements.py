"""allocations, projects, announcements and objections

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "allocation_factors",
        sa.Column("code", sa.Text(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("direction", sa.Text(), nullable=False),
        sa.Column("origin", sa.Text(), nullable=False),
        sa.Column("weight", sa.Numeric(precision=9, scale=6), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("code", name=op.f("pk_allocation_factors")),
    )
    op.create_table(
        "factor_values",
        sa.Column("factor_code", sa.Text(), nullable=False),
        sa.Column("region_code", sa.Text(), nullable=False),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("value", sa.Numeric(precision=20, scale=6), nullable=False),
        sa.Column("updated_by", sa.Text(), nullable=False),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["factor_code"],
            ["allocation_factors.code"],
            name=op.f("fk_factor_values_factor_code_allocation_factors"),
        ),
        sa.PrimaryKeyConstraint(
            "factor_code", "region_code", "year", name=op.f("pk_factor_values")
        ),
    )
    op.create_table(
        "allocations",
        sa.Column("id", sa.Text(), nullable=False),
        sa.Column("fund_id", sa.Text(), nullable=False),
        sa.Column("parent_region", sa.Text(), nullable=False),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("mode", sa.Text(), nullable=False),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column("total_fen", sa.BigInteger(), nullable=False),
        sa.Column("formula_fen", sa.BigInteger(), nullable=False),
        sa.Column("award_fen", sa.BigInteger(), nullable=False),
        sa.Column("award_share", sa.Numeric(precision=5, scale=4), nullable=False),
        sa.Column("proposed_by", sa.Text(), nullable=False),
        sa.Column("proposed_on", sa.Date(), nullable=False),
        sa.Column("approved_by", sa.Text(), nullable=True),
        sa.Column("approved_on", sa.Date(), nullable=True),
        sa.Column("notice_ends_on", sa.Date(), nullable=True),
        sa.Column("released_on", sa.Date(), nullable=True),
        sa.Column("rejected_reason", sa.Text(), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["fund_id"], ["funds.id"], name=op.f("fk_allocations_fund_id_funds")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_allocations")),
    )
    op.create_index("ix_allocations_parent_region", "allocations", ["parent_region"], unique=False)
    op.create_table(
        "allocation_lines",
        sa.Column("allocation_id", sa.Text(), nullable=False),
        sa.Column("region_code", sa.Text(), nullable=False),
        sa.Column("formula_fen", sa.BigInteger(), nullable=False),
        sa.Column("award_fen", sa.BigInteger(), nullable=False),
        sa.Column("amount_fen", sa.BigInteger(), nullable=False),
        sa.Column("computation", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.ForeignKeyConstraint(
            ["allocation_id"],
            ["allocations.id"],
            name=op.f("fk_allocation_lines_allocation_id_allocations"),
        ),
        sa.PrimaryKeyConstraint("allocation_id", "region_code", name=op.f("pk_allocation_lines")),
    )
    op.create_table(
        "approval_authorities",
        sa.Column("level", sa.Text(), nullable=False),
        sa.Column("max_budget_fen", sa.BigInteger(), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("level", name=op.f("pk_approval_authorities")),
    )
    op.create_table(
        "projects",
        sa.Column("id", sa.Text(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("project_type", sa.Text(), nullable=False),
        sa.Column("category", sa.Text(), nullable=False),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("region_code", sa.Text(), nullable=False),
        sa.Column("village_codes", postgresql.ARRAY(sa.Text()), nullable=False),
        sa.Column("implementing_unit", sa.Text(), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column("budget_fen", sa.BigInteger(), nullable=False),
        sa.Column("proposed_by", sa.Text(), nullable=False),
        sa.Column("proposed_on", sa.Date(), nullable=False),
        sa.Column("approved_by", sa.Text(), nullable=True),
        sa.Column("approved_level", sa.Text(), nullable=True),
        sa.Column("approved_on", sa.Date(), nullable=True),
        sa.Column("announced_on", sa.Date(), nullable=True),
        sa.Column("notice_ends_on", sa.Date(), nullable=True),
        sa.Column("started_on", sa.Date(), nullable=True),
        sa.Column("completed_on", sa.Date(), nullable=True),
        sa.Column("accepted_on", sa.Date(), nullable=True),
        sa.Column("evaluated_on", sa.Date(), nullable=True),
        sa.Column("evaluation", sa.Text(), nullable=True),
        sa.Column("rejected_reason", sa.Text(), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_projects")),
    )
    op.create_index("ix_projects_region_code", "projects", ["region_code"], unique=False)
    op.create_index("ix_projects_status", "projects", ["status"], unique=False)
    op.create_table(
        "project_budgets",
        sa.Column("project_id", sa.Text(), nullable=False),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("amount_fen", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["project_id"], ["projects.id"], name=op.f("fk_project_budgets_project_id_projects")
        ),
        sa.PrimaryKeyConstraint("project_id", "source", name=op.f("pk_project_budgets")),
    )
    op.create_table(
        "project_beneficiaries",
        sa.Column("project_id", sa.Text(), nullable=False),
        sa.Column("household_id", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["projects.id"],
            name=op.f("fk_project_beneficiaries_project_id_projects"),
        ),
        sa.PrimaryKeyConstraint(
            "project_id", "household_id", name=op.f("pk_project_beneficiaries")
        ),
    )
    op.create_index(
        "ix_project_beneficiaries_household",
        "project_beneficiaries",
        ["household_id"],
        unique=False,
    )
    op.create_table(
        "announcements",
        sa.Column("id", sa.Text(), nullable=False),
        sa.Column("subject_type", sa.Text(), nullable=False),
        sa.Column("subject_id", sa.Text(), nullable=False),
        sa.Column("region_code", sa.Text(), nullable=False),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column("starts_on", sa.Date(), nullable=False),
        sa.Column("ends_on", sa.Date(), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_announcements")),
    )
    op.create_index("ix_announcements_region_code", "announcements", ["region_code"], unique=False)
    op.create_index(
        "uq_announcements_subject", "announcements", ["subject_type", "subject_id"], unique=True
    )
    op.create_table(
        "objections",
        sa.Column("id", sa.Text(), nullable=False),
        sa.Column("announcement_id", sa.Text(), nullable=False),
        sa.Column("filed_on", sa.Date(), nullable=False),
        sa.Column(
            "filed_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False
        ),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("contact_cipher", sa.LargeBinary(), nullable=True),
        sa.Column("client_index", sa.Text(), nullable=False),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column("outcome", sa.Text(), nullable=True),
        sa.Column("resolution", sa.Text(), nullable=True),
        sa.Column("resolved_by", sa.Text(), nullable=True),
        sa.Column("resolved_on", sa.Date(), nullable=True),
        sa.ForeignKeyConstraint(
            ["announcement_id"],
            ["announcements.id"],
            name=op.f("fk_objections_announcement_id_announcements"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_objections")),
    )
    op.create_index(
        "ix_objections_announcement", "objections", ["announcement_id", "status"], unique=False
    )
    op.create_index(
        "ix_objections_client", "objections", ["client_index", "filed_at"], unique=False
    )

    seed_defaults()


def seed_defaults() -> None:
    """Default factors, weights and approval authority; officers edit them through the API."""
    factors = sa.table(
        "allocation_factors",
        sa.column("code"),
        sa.column("name"),
        sa.column("direction"),
        sa.column("origin"),
        sa.column("weight"),
        sa.column("version"),
    )
    op.bulk_insert(
        factors,
        [
            {
                "code": "poor_population",
                "name": "registered poor population (贫困人口)",
                "direction": "direct",
                "origin": "registry",
                "weight": 0.5,
                "version": 1,
            },
            {
                "code": "poverty_incidence",
                "name": "poverty incidence, percent (贫困发生率)",
                "direction": "direct",
                "origin": "data",
                "weight": 0.3,
                "version": 1,
            },
            {
                "code": "fiscal_capacity",
                "name": "fiscal revenue per capita, yuan (财力), inverse",
                "direction": "inverse",
                "origin": "data",
                "weight": 0.2,
                "version": 1,
            },
        ],
    )
    authorities = sa.table(
        "approval_authorities",
        sa.column("level"),
        sa.column("max_budget_fen"),
        sa.column("version"),
    )
    op.bulk_insert(
        authorities,
        [
            {
                "level": "county",
                "max_budget_fen": 100_000_000,
                "version": 1,
            },  # up to 1,000,000.00 yuan
            {"level": "city", "max_budget_fen": None, "version": 1},
            {"level": "province", "max_budget_fen": None, "version": 1},
        ],
    )


def downgrade() -> None:
    op.drop_table("objections")
    op.drop_table("announcements")
    op.drop_table("project_beneficiaries")
    op.drop_table("project_budgets")
    op.drop_table("projects")
    op.drop_table("approval_authorities")
    op.drop_table("allocation_lines")
    op.drop_table("allocations")
    op.drop_table("factor_values")
    op.drop_table("allocation_factors")
