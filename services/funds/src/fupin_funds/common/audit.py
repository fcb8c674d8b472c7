"""Every write of the funds service is appended to the kit's hash-chained audit trail in the
same transaction."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from fupin_kit.audit import AuditRecord, AuditTrail
from fupin_kit.auth import Caller


async def audit(
    session: AsyncSession,
    actor: Caller | str,
    action: str,
    object_type: str,
    object_id: str,
    details: dict[str, Any] | None = None,
) -> None:
    who = actor.actor if isinstance(actor, Caller) else actor
    await AuditTrail(session).append(
        AuditRecord(who, action, object_type, object_id, details or {})
    )


async def audit_each(
    session: AsyncSession,
    actor: Caller,
    action: str,
    object_type: str,
    object_ids: list[str],
    details: dict[str, Any] | None = None,
) -> None:
    """One record per object (one chain append): each can be found by its own id, as
    ``AuditTrail.entries_for`` looks records up."""
    await AuditTrail(session).append_many(
        [AuditRecord(actor.actor, action, object_type, i, details or {}) for i in object_ids]
    )
