"""access: DCI partners, transactions, subscriptions, notifications; member lookup index

Revision ID: 0200
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0200"
down_revision = "0002"
branch_labels = ("access",)
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
    # Eligibility and DCI look people up by blind index whether or not their membership is
    # active; the partial unique index on active members cannot serve the others.
    op.create_index("ix_members_id_index_all", "members", ["id_index"])

    op.create_table(
        "dci_partners",
        sa.Column("sender_id", sa.Text(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("client_id", sa.Text(), nullable=False),
        sa.Column("public_key", sa.Text(), nullable=True),
        sa.Column("key_id", sa.Text(), nullable=True),
        sa.Column(
            "require_signature", sa.Boolean(), server_default=sa.text("true"), nullable=False
        ),
        sa.Column("callback_url_prefix", sa.Text(), nullable=True),
        sa.Column("active", sa.Boolean(), server_default=sa.text("true"), nullable=False),
        sa.Column("version", sa.Integer(), server_default="1", nullable=False),
        *_timestamps(),
        sa.PrimaryKeyConstraint("sender_id", name=op.f("pk_dci_partners")),
        sa.UniqueConstraint("client_id", name=op.f("uq_dci_partners_client_id")),
    )
    op.create_table(
        "dci_transactions",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("sender_id", sa.Text(), nullable=False),
        sa.Column("message_id", sa.Text(), nullable=False),
        sa.Column("transaction_id", sa.Text(), nullable=False),
        sa.Column("correlation_id", sa.Text(), nullable=False),
        sa.Column("action", sa.Text(), nullable=False),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column(
            "reference_ids", postgresql.ARRAY(sa.Text()), server_default="{}", nullable=False
        ),
        sa.Column("total_count", sa.Integer(), server_default="0", nullable=False),
        sa.Column("completed_count", sa.Integer(), server_default="0", nullable=False),
        sa.Column("sender_uri", sa.Text(), nullable=True),
        sa.Column("reply_enc", sa.LargeBinary(), nullable=True),
        sa.Column("callback_status", sa.Text(), nullable=True),
        sa.Column("callback_attempts", sa.Integer(), server_default="0", nullable=False),
        sa.Column("callback_error", sa.Text(), nullable=True),
        *_timestamps(),
        sa.ForeignKeyConstraint(
            ["sender_id"],
            ["dci_partners.sender_id"],
            name=op.f("fk_dci_transactions_sender_id_dci_partners"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dci_transactions")),
        sa.UniqueConstraint("correlation_id", name=op.f("uq_dci_transactions_correlation_id")),
        sa.UniqueConstraint(
            "sender_id", "message_id", name=op.f("uq_dci_transactions_sender_id_message_id")
        ),
    )
    op.create_index(
        "ix_dci_transactions_sender_transaction",
        "dci_transactions",
        ["sender_id", "transaction_id"],
    )
    op.create_table(
        "dci_subscriptions",
        sa.Column("code", sa.Text(), nullable=False),
        sa.Column("sender_id", sa.Text(), nullable=False),
        sa.Column("transaction_id", sa.Text(), nullable=False),
        sa.Column("reference_id", sa.Text(), nullable=False),
        sa.Column("reg_event_type", sa.Text(), nullable=False),
        sa.Column("filter", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("filter_key", sa.Text(), nullable=False),
        sa.Column("notify_record_type", sa.Text(), nullable=False),
        sa.Column("sender_uri", sa.Text(), nullable=False),
        sa.Column("jurisdiction", sa.Text(), nullable=False),
        sa.Column("status", sa.Text(), server_default="subscribe", nullable=False),
        sa.Column("starts_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("ends_at", sa.DateTime(timezone=True), nullable=True),
        *_timestamps(),
        sa.ForeignKeyConstraint(
            ["sender_id"],
            ["dci_partners.sender_id"],
            name=op.f("fk_dci_subscriptions_sender_id_dci_partners"),
        ),
        sa.PrimaryKeyConstraint("code", name=op.f("pk_dci_subscriptions")),
    )
    op.create_index(
        "uq_dci_subscriptions_active_filter",
        "dci_subscriptions",
        ["sender_id", "reg_event_type", "filter_key"],
        unique=True,
        postgresql_where=sa.text("status = 'subscribe'"),
    )
    op.create_index(
        "ix_dci_subscriptions_event_type_status", "dci_subscriptions", ["reg_event_type", "status"]
    )
    op.create_table(
        "dci_notifications",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("subscription_code", sa.Text(), nullable=False),
        sa.Column("event_id", sa.Text(), nullable=False),
        sa.Column("message", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("status", sa.Text(), server_default="pending", nullable=False),
        sa.Column("attempts", sa.Integer(), server_default="0", nullable=False),
        sa.Column(
            "next_attempt_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["subscription_code"],
            ["dci_subscriptions.code"],
            name=op.f("fk_dci_notifications_subscription_code_dci_subscriptions"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dci_notifications")),
        sa.UniqueConstraint(
            "subscription_code",
            "event_id",
            name=op.f("uq_dci_notifications_subscription_code_event_id"),
        ),
    )
    op.create_index(
        "ix_dci_notifications_due",
        "dci_notifications",
        ["next_attempt_at"],
        postgresql_where=sa.text("status = 'pending'"),
    )


def downgrade() -> None:
    op.drop_index("ix_dci_notifications_due", table_name="dci_notifications")
    op.drop_table("dci_notifications")
    op.drop_index("ix_dci_subscriptions_event_type_status", table_name="dci_subscriptions")
    op.drop_index("uq_dci_subscriptions_active_filter", table_name="dci_subscriptions")
    op.drop_table("dci_subscriptions")
    op.drop_index("ix_dci_transactions_sender_transaction", table_name="dci_transactions")
    op.drop_table("dci_transactions")
    op.drop_table("dci_partners")
    op.drop_index("ix_members_id_index_all", table_name="members")
