"""imports: import jobs, row errors, UNLOGGED staging tables for chunked COPY + merge

Revision ID: 0100
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0100"
down_revision = "0002"
branch_labels = ("imports",)
depends_on = None


def _timestamps() -> list[sa.Column]:
    return [
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
    ]


def upgrade() -> None:
    op.create_table(
        "import_jobs",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("region_code", sa.Text(), nullable=False),
        sa.Column("created_by", sa.Text(), nullable=False),
        sa.Column("file_name", sa.Text(), nullable=False),
        sa.Column("file_kind", sa.Text(), nullable=False),
        sa.Column("encoding", sa.Text(), nullable=True),
        sa.Column("file_bytes", sa.BigInteger(), nullable=False),
        sa.Column("state", sa.Text(), server_default="queued", nullable=False),
        sa.Column("failure_reason", sa.Text(), nullable=True),
        sa.Column("header_row", sa.Integer(), nullable=True),
        sa.Column(
            "ignored_columns", postgresql.ARRAY(sa.Text()), server_default="{}", nullable=False
        ),
        sa.Column("notes", postgresql.ARRAY(sa.Text()), server_default="{}", nullable=False),
        *[
            sa.Column(name, sa.Integer(), server_default="0", nullable=False)
            for name in (
                "rows_read",
                "rows_empty",
                "rows_valid",
                "rows_rejected",
                "rows_committed",
                "rows_unchanged",
                "households_created",
                "households_unchanged",
                "chunks_committed",
                "error_count",
            )
        ],
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("heartbeat_at", sa.DateTime(timezone=True), nullable=True),
        *_timestamps(),
        sa.CheckConstraint(
            "state IN ('queued', 'running', 'completed', 'failed')",
            name=op.f("ck_import_jobs_state_known"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_import_jobs")),
    )
    op.create_index("ix_import_jobs_region_created", "import_jobs", ["region_code", "created_at"])
    op.create_table(
        "import_errors",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("job_id", sa.Uuid(), nullable=False),
        sa.Column("row_number", sa.Integer(), nullable=False),
        sa.Column("column_name", sa.Text(), nullable=False),
        sa.Column("value_enc", sa.LargeBinary(), nullable=True),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["job_id"], ["import_jobs.id"], name=op.f("fk_import_errors_job_id_import_jobs")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_import_errors")),
    )
    op.create_index("ix_import_errors_job_row", "import_errors", ["job_id", "row_number", "id"])
    op.create_table(
        "import_staged_households",
        sa.Column("job_id", sa.Uuid(), nullable=False),
        sa.Column("chunk", sa.Integer(), nullable=False),
        sa.Column("household_id", sa.Uuid(), nullable=False),
        sa.Column("first_row", sa.Integer(), nullable=False),
        sa.Column("last_row", sa.Integer(), nullable=False),
        sa.Column("member_count", sa.Integer(), nullable=False),
        sa.Column("village_code", sa.Text(), nullable=False),
        sa.Column("household_number", sa.Text(), nullable=False),
        sa.Column("attribute", sa.Text(), nullable=False),
        sa.Column("support_type", sa.Text(), nullable=False),
        sa.Column("primary_cause", sa.Text(), nullable=False),
        sa.Column("secondary_causes", postgresql.ARRAY(sa.Text()), nullable=False),
        sa.Column("identification_standard", sa.Text(), nullable=False),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("registered_on", sa.Date(), nullable=True),
        sa.Column("exited_on", sa.Date(), nullable=True),
        sa.Column("phone_enc", sa.LargeBinary(), nullable=True),
        sa.Column("bank_account_enc", sa.LargeBinary(), nullable=True),
        sa.Column("housing_safety", sa.Text(), nullable=False),
        sa.Column("drinking_water_safe", sa.Boolean(), nullable=False),
        sa.Column("income_year", sa.Integer(), nullable=False),
        *[
            sa.Column(n, sa.Numeric(14, 2), nullable=True)
            for n in ("wages", "production", "property", "transfer", "production_costs")
        ],
        sa.Column("snapshot", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("event_id", sa.Text(), nullable=False),
        sa.Column("event", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("outcome", sa.Text(), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("reason_row", sa.Integer(), nullable=True),
        prefixes=["UNLOGGED"],
    )
    op.create_table(
        "import_staged_members",
        sa.Column("job_id", sa.Uuid(), nullable=False),
        sa.Column("chunk", sa.Integer(), nullable=False),
        sa.Column("household_id", sa.Uuid(), nullable=False),
        sa.Column("member_id", sa.Uuid(), nullable=False),
        sa.Column("row_number", sa.Integer(), nullable=False),
        sa.Column("id_index", sa.LargeBinary(), nullable=False),
        sa.Column("id_number_enc", sa.LargeBinary(), nullable=False),
        sa.Column("name_enc", sa.LargeBinary(), nullable=False),
        sa.Column("sex", sa.Text(), nullable=False),
        sa.Column("birth_date", sa.Date(), nullable=False),
        sa.Column("relation", sa.Text(), nullable=False),
        sa.Column("ethnicity", sa.Text(), nullable=False),
        sa.Column("education", sa.Text(), nullable=True),
        sa.Column("school_status", sa.Text(), nullable=True),
        sa.Column("health", sa.Text(), nullable=False),
        sa.Column("disability", sa.Text(), nullable=True),
        sa.Column("labour_ability", sa.Text(), nullable=False),
        sa.Column("migrant_months", sa.Integer(), nullable=False),
        sa.Column("medical_insurance", sa.Boolean(), nullable=False),
        sa.Column("pension_insurance", sa.Boolean(), nullable=False),
        prefixes=["UNLOGGED"],
    )


def downgrade() -> None:
    op.drop_table("import_staged_members")
    op.drop_table("import_staged_households")
    op.drop_index("ix_import_errors_job_row", table_name="import_errors")
    op.drop_table("import_errors")
    op.drop_index("ix_import_jobs_region_created", table_name="import_jobs")
    op.drop_table("import_jobs")
