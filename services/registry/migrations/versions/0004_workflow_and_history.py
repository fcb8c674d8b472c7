"""workflow and history: exclusion rules, case dates, member departures, cadre pairing, indexes

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

OPEN_CASE = "state NOT IN ('approved', 'rejected')"

# Seeded defaults (editable by administrators through the API): owning a car, holding a public
# job or having bought urban housing excludes a household; a company registration or a duplicate
# ID number is only flagged for review, a recorded death prompts a natural-decrease case.
EXCLUSION_RULES = [
    ("vehicle", "block", "a member owns a motor vehicle (not a farm vehicle)"),
    ("public_employee", "block", "a member holds a publicly funded job"),
    ("urban_housing", "block", "a member bought housing in a town or city"),
    ("company", "flag", "a member is a registered company shareholder or owner"),
    ("duplicate_id", "flag", "a member's ID number appears in another household"),
    ("death", "flag", "a member is recorded as deceased"),
]


def upgrade() -> None:
    op.create_table(
        "exclusion_rules",
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column("effect", sa.Text(), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("updated_by", sa.Text(), server_default="system", nullable=False),
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
        sa.CheckConstraint(
            "effect IN ('block', 'flag')", name=op.f("ck_exclusion_rules_effect_known")
        ),
        sa.PrimaryKeyConstraint("kind", name=op.f("pk_exclusion_rules")),
    )
    rules = sa.table(
        "exclusion_rules", sa.column("kind"), sa.column("effect"), sa.column("description")
    )
    op.bulk_insert(
        rules, [{"kind": k, "effect": e, "description": d} for k, e, d in EXCLUSION_RULES]
    )

    op.add_column(
        "cases",
        sa.Column("opened_on", sa.Date(), server_default=sa.text("CURRENT_DATE"), nullable=False),
    )
    op.add_column("cases", sa.Column("last_step_on", sa.Date(), nullable=True))
    op.create_index(
        "uq_cases_one_open_per_household",
        "cases",
        ["household_id"],
        unique=True,
        postgresql_where=sa.text(OPEN_CASE),
    )
    op.create_index("ix_cases_state_created", "cases", ["state", "created_at", "id"])
    op.add_column("case_steps", sa.Column("effective_on", sa.Date(), nullable=True))

    op.add_column("members", sa.Column("left_on", sa.Date(), nullable=True))
    op.add_column("members", sa.Column("left_reason", sa.Text(), nullable=True))

    op.add_column("households", sa.Column("cadre_paired_on", sa.Date(), nullable=True))
    # Region-prefix filters are LIKE 'prefix%': text_pattern_ops serves them in any collation.
    op.create_index(
        "ix_households_village_pattern",
        "households",
        ["village_code", "id"],
        postgresql_ops={"village_code": "text_pattern_ops"},
    )
    op.create_index("ix_households_status_registered", "households", ["status", "registered_on"])
    op.create_index(
        "ix_household_versions_current",
        "household_versions",
        ["household_id"],
        postgresql_where=sa.text("valid_to IS NULL"),
    )


def downgrade() -> None:
    op.drop_index("ix_household_versions_current", table_name="household_versions")
    op.drop_index("ix_households_status_registered", table_name="households")
    op.drop_index("ix_households_village_pattern", table_name="households")
    op.drop_column("households", "cadre_paired_on")
    op.drop_column("members", "left_reason")
    op.drop_column("members", "left_on")
    op.drop_column("case_steps", "effective_on")
    op.drop_index("ix_cases_state_created", table_name="cases")
    op.drop_index("uq_cases_one_open_per_household", table_name="cases")
    op.drop_column("cases", "last_step_on")
    op.drop_column("cases", "opened_on")
    op.drop_table("exclusion_rules")
