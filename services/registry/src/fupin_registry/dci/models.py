"""DCI partners, transactions, event subscriptions and pending notifications."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.orm import Mapped, mapped_column

from fupin_kit.db import TimestampMixin
from fupin_registry.db import Base


class Partner(TimestampMixin, Base):
    """A partner agency's DCI client: its sender id, the OAuth client allowed to speak for it,
    its public key and whether its messages must be signed."""

    __tablename__ = "dci_partners"

    sender_id: Mapped[str] = mapped_column(Text, primary_key=True)
    name: Mapped[str] = mapped_column(Text)
    client_id: Mapped[str] = mapped_column(Text, unique=True)
    public_key: Mapped[str | None] = mapped_column(Text)  # Ed25519, PEM or JWK JSON
    key_id: Mapped[str | None] = mapped_column(Text)  # expected in the signature's kidId
    require_signature: Mapped[bool] = mapped_column(Boolean, server_default=text("true"))
    callback_url_prefix: Mapped[str | None] = mapped_column(Text)  # sender_uri must start with it
    active: Mapped[bool] = mapped_column(Boolean, server_default=text("true"))
    version: Mapped[int] = mapped_column(Integer, server_default="1")


class DciTransaction(TimestampMixin, Base):
    """One received message (search, subscribe, unsubscribe, txn-status) and its outcome.

    The reply is kept sealed (AES-GCM, like every personal field) so txn/status can return it.
    """

    __tablename__ = "dci_transactions"
    __table_args__ = (
        UniqueConstraint("sender_id", "message_id"),
        Index("ix_dci_transactions_sender_transaction", "sender_id", "transaction_id"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    sender_id: Mapped[str] = mapped_column(ForeignKey("dci_partners.sender_id"))
    message_id: Mapped[str] = mapped_column(Text)
    transaction_id: Mapped[str] = mapped_column(Text)
    correlation_id: Mapped[str] = mapped_column(Text, unique=True)
    action: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(Text)  # rcvd, pdng, succ, rjct
    reference_ids: Mapped[list[str]] = mapped_column(ARRAY(Text), server_default="{}")
    total_count: Mapped[int] = mapped_column(Integer, server_default="0")
    completed_count: Mapped[int] = mapped_column(Integer, server_default="0")
    sender_uri: Mapped[str | None] = mapped_column(Text)
    # The requesting token's jurisdiction: txn/status replays the reply only to tokens whose
    # jurisdiction covers it (one client's tokens may have different jurisdictions).
    jurisdiction: Mapped[str] = mapped_column(Text)
    reply_enc: Mapped[bytes | None] = mapped_column(LargeBinary)
    callback_status: Mapped[str | None] = mapped_column(Text)  # pending, delivered, failed
    callback_attempts: Mapped[int] = mapped_column(Integer, server_default="0")
    callback_error: Mapped[str | None] = mapped_column(Text)


class Subscription(TimestampMixin, Base):
    """A partner's standing request to be notified of register events in its jurisdiction.

    ``filter`` is the parsed filter with ID numbers replaced by their blind index, so no clear
    personal data is stored.
    """

    __tablename__ = "dci_subscriptions"
    __table_args__ = (
        Index(
            "uq_dci_subscriptions_active_filter",
            "sender_id",
            "reg_event_type",
            "filter_key",
            unique=True,
            postgresql_where=text("status = 'subscribe'"),
        ),
        Index("ix_dci_subscriptions_event_type_status", "reg_event_type", "status"),
    )

    code: Mapped[str] = mapped_column(Text, primary_key=True)
    sender_id: Mapped[str] = mapped_column(ForeignKey("dci_partners.sender_id"))
    transaction_id: Mapped[str] = mapped_column(Text)
    reference_id: Mapped[str] = mapped_column(Text)
    reg_event_type: Mapped[str] = mapped_column(Text)
    filter: Mapped[dict[str, Any]] = mapped_column(JSONB)
    filter_key: Mapped[str] = mapped_column(Text)
    notify_record_type: Mapped[str] = mapped_column(Text)
    sender_uri: Mapped[str] = mapped_column(Text)
    jurisdiction: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(Text, server_default="subscribe")
    starts_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    ends_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class Notification(Base):
    """A notify callback owed to a subscriber for one event: written in the consumer's
    transaction (so each event yields it once), delivered and retried by the notifier."""

    __tablename__ = "dci_notifications"
    __table_args__ = (
        UniqueConstraint("subscription_code", "event_id"),
        Index(
            "ix_dci_notifications_due",
            "next_attempt_at",
            postgresql_where=text("status = 'pending'"),
        ),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    subscription_code: Mapped[str] = mapped_column(ForeignKey("dci_subscriptions.code"))
    event_id: Mapped[str] = mapped_column(Text)
    message: Mapped[dict[str, Any]] = mapped_column(JSONB)  # NotifyEventRequest, no personal data
    status: Mapped[str] = mapped_column(
        Text, server_default="pending"
    )  # pending, delivered, failed
    attempts: Mapped[int] = mapped_column(Integer, server_default="0")
    next_attempt_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    delivered_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
