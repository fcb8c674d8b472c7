"""SQL of the DCI domain: partners, transactions, subscriptions, notifications, register search.

Search filters arrive as the closed tree of ``dci.query`` and become SQLAlchemy expressions with
bound parameters; no SQL text is ever built from a request.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    ColumnElement,
    and_,
    exists,
    extract,
    func,
    not_,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from fupin_registry.dci.models import DciTransaction, Notification, Partner, Subscription
from fupin_registry.dci.query import ATTRIBUTES, AllOf, AnyOf, Condition, Negation, Node
from fupin_registry.households.models import Household, Member


class PartnerRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, sender_id: str) -> Partner | None:
        return await self.session.get(Partner, sender_id)

    async def list(self) -> Sequence[Partner]:
        return (await self.session.scalars(select(Partner).order_by(Partner.sender_id))).all()

    async def add(self, partner: Partner) -> Partner:
        self.session.add(partner)
        await self.session.flush()
        await self.session.refresh(partner)
        return partner

    async def save(self, partner: Partner) -> Partner:
        partner.version += 1
        await self.session.flush()
        await self.session.refresh(partner)
        return partner


class TransactionRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def open(self, values: dict[str, Any]) -> DciTransaction | None:
        """Record a received message; None when the sender already used that message_id."""
        row = (
            await self.session.execute(
                insert(DciTransaction)
                .values(id=uuid.uuid4(), **values)
                .on_conflict_do_nothing(index_elements=["sender_id", "message_id"])
                .returning(DciTransaction.id)
            )
        ).first()
        return None if row is None else await self.session.get(DciTransaction, row[0])

    async def get(self, transaction_id: uuid.UUID) -> DciTransaction | None:
        return await self.session.get(DciTransaction, transaction_id)

    async def load(self, transaction_id: uuid.UUID) -> DciTransaction:
        """A transaction this process recorded itself (so it exists)."""
        found = await self.session.get(DciTransaction, transaction_id)
        if found is None:
            raise LookupError(f"DCI transaction {transaction_id} is missing")
        return found

    async def fail_stale(self, older_than: timedelta, error: str) -> int:
        """Mark ``pdng`` transactions received more than ``older_than`` ago as rejected: their
        processing was lost (a process stopped after the ACK). Returns how many."""
        rows = await self.session.execute(
            update(DciTransaction)
            .where(
                DciTransaction.status == "pdng",
                DciTransaction.created_at < func.now() - older_than,
            )
            .values(status="rjct", callback_status="failed", callback_error=error)
            .returning(DciTransaction.id)
        )
        return len(rows.all())

    async def find(
        self,
        sender_id: str,
        jurisdiction: str,
        action: str,
        attribute: str,
        value: str | list[str],
    ) -> DciTransaction | None:
        """The sender's latest transaction of ``action`` by transaction id, correlation id or
        reference ids, requested within ``jurisdiction``; partners never see each other's
        transactions, nor a token those of a wider jurisdiction."""
        query = select(DciTransaction).where(
            DciTransaction.sender_id == sender_id,
            DciTransaction.action == action,
            DciTransaction.jurisdiction.startswith(jurisdiction, autoescape=True),
        )
        if attribute == "transaction_id":
            query = query.where(DciTransaction.transaction_id == str(value))
        elif attribute == "correlation_id":
            query = query.where(DciTransaction.correlation_id == str(value))
        else:
            values = value if isinstance(value, list) else [value]
            query = query.where(DciTransaction.reference_ids.overlap(values))
        query = query.order_by(DciTransaction.created_at.desc()).limit(1)
        return (await self.session.scalars(query)).first()


class SubscriptionRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add(self, values: dict[str, Any]) -> bool:
        """False when the sender already holds an active subscription with this filter key
        (the filter and the jurisdiction)."""
        row = (
            await self.session.execute(
                insert(Subscription)
                .values(**values)
                .on_conflict_do_nothing(
                    index_elements=["sender_id", "reg_event_type", "filter_key"],
                    # A literal, as the partial index has it: a bound value would let a generic
                    # plan miss the index ("no unique or exclusion constraint matching").
                    index_where=text("status = 'subscribe'"),
                )
                .returning(Subscription.code)
            )
        ).first()
        return row is not None

    async def of_sender(
        self, sender_id: str, jurisdiction: str, codes: list[str]
    ) -> dict[str, Subscription]:
        """The sender's subscriptions among ``codes`` made within ``jurisdiction``."""
        rows = await self.session.scalars(
            select(Subscription).where(
                Subscription.sender_id == sender_id,
                Subscription.code.in_(codes),
                Subscription.jurisdiction.startswith(jurisdiction, autoescape=True),
            )
        )
        return {s.code: s for s in rows}

    async def cancel(self, codes: list[str]) -> None:
        if codes:
            await self.session.execute(
                update(Subscription)
                .where(Subscription.code.in_(codes))
                .values(status="unsubscribe", updated_at=func.now())
            )

    async def listening(
        self, reg_event_type: str, village_code: str, at: datetime
    ) -> Sequence[Subscription]:
        """Active subscriptions of active partners to ``reg_event_type`` whose jurisdiction
        covers the village."""
        return (
            await self.session.scalars(
                select(Subscription)
                .join(Partner, Partner.sender_id == Subscription.sender_id)
                .where(
                    Partner.active,
                    Subscription.status == "subscribe",
                    Subscription.reg_event_type == reg_event_type,
                    func.starts_with(village_code, Subscription.jurisdiction),
                    or_(Subscription.starts_at.is_(None), Subscription.starts_at <= at),
                    or_(Subscription.ends_at.is_(None), Subscription.ends_at >= at),
                )
            )
        ).all()


class NotificationRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add(self, subscription_code: str, event_id: str, message: dict[str, Any]) -> None:
        await self.session.execute(
            insert(Notification)
            .values(subscription_code=subscription_code, event_id=event_id, message=message)
            .on_conflict_do_nothing(index_elements=["subscription_code", "event_id"])
        )

    async def lease_due(
        self, limit: int, lease: timedelta
    ) -> list[tuple[Notification, Subscription, Partner]]:
        """Take up to ``limit`` due notifications for ``lease``: another sender skips them
        meanwhile, and they come due again if this one dies before recording the outcome.

        Only notifications of active subscriptions of active partners are sent: those owed to
        a cancelled subscription or a deactivated partner are marked failed when they come due.
        """
        revoked = (
            select(Subscription.code)
            .join(Partner, Partner.sender_id == Subscription.sender_id)
            .where(or_(Subscription.status != "subscribe", not_(Partner.active)))
        )
        await self.session.execute(
            update(Notification)
            .where(
                Notification.status == "pending",
                Notification.next_attempt_at <= func.now(),
                Notification.subscription_code.in_(revoked.scalar_subquery()),
            )
            .values(status="failed", last_error="subscription cancelled or partner deactivated")
        )
        due = (
            select(Notification.id)
            .join(Subscription, Subscription.code == Notification.subscription_code)
            .join(Partner, Partner.sender_id == Subscription.sender_id)
            .where(
                Notification.status == "pending",
                Notification.next_attempt_at <= func.now(),
                Subscription.status == "subscribe",
                Partner.active,
            )
            .order_by(Notification.next_attempt_at, Notification.id)
            .limit(limit)
            .with_for_update(of=Notification, skip_locked=True)
        )
        ids = (
            await self.session.scalars(
                update(Notification)
                .where(Notification.id.in_(due.scalar_subquery()))
                .values(next_attempt_at=func.now() + lease)
                .returning(Notification.id)
            )
        ).all()
        if not ids:
            return []
        rows = await self.session.execute(
            select(Notification, Subscription, Partner)
            .join(Subscription, Subscription.code == Notification.subscription_code)
            .join(Partner, Partner.sender_id == Subscription.sender_id)
            .where(Notification.id.in_(ids))
            .order_by(Notification.id)
        )
        return [(n, s, p) for n, s, p in rows]

    async def delivered(self, notification_id: int) -> None:
        await self.session.execute(
            update(Notification)
            .where(Notification.id == notification_id)
            .values(
                status="delivered",
                delivered_at=func.now(),
                attempts=Notification.attempts + 1,
                last_error=None,
            )
        )

    async def failed(self, notification_id: int, error: str, retry_in: timedelta | None) -> None:
        values: dict[str, Any] = {"attempts": Notification.attempts + 1, "last_error": error[:1000]}
        if retry_in is None:
            values["status"] = "failed"
        else:
            values["next_attempt_at"] = func.now() + retry_in
        await self.session.execute(
            update(Notification).where(Notification.id == notification_id).values(**values)
        )


# --- register search -----------------------------------------------------------------------------

_ORDERED_OPS: dict[str, Callable[[Any, Any], ColumnElement[bool]]] = {
    "eq": lambda col, v: col == v,
    "lt": lambda col, v: col < v,
    "le": lambda col, v: col <= v,
    "gt": lambda col, v: col > v,
    "ge": lambda col, v: col >= v,
    "in": lambda col, v: col.in_(list(v)),
}

_HOUSEHOLD_COLUMNS = {
    "village_code": Household.village_code,
    "status": Household.status,
    "attribute": Household.attribute,
    "support_type": Household.support_type,
    "primary_cause": Household.primary_cause,
    "year": Household.year,
    "registration_date": Household.registered_on,
}

SORTABLE = {
    "Group": {
        "HOUSEHOLD_ID": Household.id,
        "village_code": Household.village_code,
        "region": Household.village_code,
        "registration_date": Household.registered_on,
        "year": Household.year,
        "status": Household.status,
    },
    "Member": {
        "village_code": Household.village_code,
        "region": Household.village_code,
        "birth_date": Member.birth_date,
        "YOB": Member.birth_date,
        "status": Household.status,
    },
}


def _group_size() -> Any:
    return (
        select(func.count())
        .where(Member.household_id == Household.id, Member.active)
        .correlate(Household)
        .scalar_subquery()
    )


class RegisterSearch:
    """Households (DCI Group) or active members (DCI Member) in a jurisdiction, filtered,
    sorted and paged."""

    def __init__(self, session: AsyncSession, blind_index: Callable[[str], bytes]) -> None:
        self.session = session
        self.blind_index = blind_index

    def _values(self, c: Condition) -> list[Any]:
        return list(c.value) if c.op == "in" else [c.value]

    def _household(self, c: Condition) -> ColumnElement[bool]:
        if c.attribute == "HOUSEHOLD_ID":
            return _ORDERED_OPS[c.op](
                Household.id,
                tuple(uuid.UUID(v) for v in c.value) if c.op == "in" else uuid.UUID(c.value),
            )
        if c.attribute == "region":
            return or_(
                *(Household.village_code.startswith(p, autoescape=True) for p in self._values(c))
            )
        if c.attribute == "poverty_cause":
            return or_(
                *(
                    or_(Household.primary_cause == v, Household.secondary_causes.contains([v]))
                    for v in self._values(c)
                )
            )
        if c.attribute == "group_size":
            return _ORDERED_OPS[c.op](_group_size(), c.value)
        return _ORDERED_OPS[c.op](_HOUSEHOLD_COLUMNS[c.attribute], c.value)

    def _member(self, c: Condition) -> ColumnElement[bool]:
        if c.attribute == "UIN":
            indexes = [self.blind_index(v) for v in self._values(c)]
            return Member.id_index.in_(indexes)
        if c.attribute == "YOB":
            return _ORDERED_OPS[c.op](extract("year", Member.birth_date), c.value)
        column = Member.birth_date if c.attribute == "birth_date" else Member.sex
        return _ORDERED_OPS[c.op](column, c.value)

    def where(self, node: Node, entity: str) -> ColumnElement[bool]:
        if isinstance(node, AllOf):
            return and_(*(self.where(p, entity) for p in node.parts))
        if isinstance(node, AnyOf):
            return or_(*(self.where(p, entity) for p in node.parts))
        if isinstance(node, Negation):
            return not_(self.where(node.part, entity))
        if ATTRIBUTES[node.attribute].level == "household":
            return self._household(node)
        if entity == "Member":
            return self._member(node)
        # A member condition on households: some active member satisfies it.
        return exists().where(
            Member.household_id == Household.id, Member.active, self._member(node)
        )

    async def groups(
        self,
        node: Node,
        region: ColumnElement[bool],
        sort: list[tuple[str, bool]],
        limit: int,
        offset: int,
    ) -> tuple[int, list[Household]]:
        condition = and_(region, self.where(node, "Group"))
        total = (
            await self.session.execute(select(func.count()).select_from(Household).where(condition))
        ).scalar_one()
        if total == 0 or offset >= total:
            return total, []
        order = [
            SORTABLE["Group"][name].desc() if desc else SORTABLE["Group"][name]
            for name, desc in sort
        ]
        rows = await self.session.scalars(
            select(Household)
            .where(condition)
            .order_by(*order, Household.id)
            .limit(limit)
            .offset(offset)
        )
        return total, list(rows)

    async def members(
        self,
        node: Node,
        region: ColumnElement[bool],
        sort: list[tuple[str, bool]],
        limit: int,
        offset: int,
    ) -> tuple[int, list[tuple[Member, Household]]]:
        condition = and_(Member.active, region, self.where(node, "Member"))
        base = (
            select(Member, Household)
            .join(Household, Household.id == Member.household_id)
            .where(condition)
        )
        total = (
            await self.session.execute(
                select(func.count())
                .select_from(Member)
                .join(Household, Household.id == Member.household_id)
                .where(condition)
            )
        ).scalar_one()
        if total == 0 or offset >= total:
            return total, []
        order = [
            SORTABLE["Member"][name].desc() if desc else SORTABLE["Member"][name]
            for name, desc in sort
        ]
        rows = await self.session.execute(
            base.order_by(*order, Member.id).limit(limit).offset(offset)
        )
        return total, [(m, h) for m, h in rows]

    async def members_of(self, household_ids: list[uuid.UUID]) -> dict[uuid.UUID, list[Member]]:
        if not household_ids:
            return {}
        rows = await self.session.scalars(
            select(Member)
            .where(Member.household_id.in_(household_ids), Member.active)
            .order_by(
                Member.household_id,
                (Member.relation == "head").desc(),
                Member.birth_date,
                Member.id,
            )
        )
        found: dict[uuid.UUID, list[Member]] = {h: [] for h in household_ids}
        for member in rows:
            found[member.household_id].append(member)
        return found


@dataclass(frozen=True)
class HouseholdFacts:
    """A household's status and attribute now: for events recorded before they carried both."""

    status: str | None
    attribute: str | None


async def household_facts(session: AsyncSession, household_id: str) -> HouseholdFacts:
    try:
        key = uuid.UUID(household_id)
    except ValueError:
        return HouseholdFacts(None, None)
    row = (
        await session.execute(
            select(Household.status, Household.attribute).where(Household.id == key)
        )
    ).first()
    return HouseholdFacts(None, None) if row is None else HouseholdFacts(row[0], row[1])


__all__ = [
    "NotificationRepository",
    "PartnerRepository",
    "RegisterSearch",
    "SORTABLE",
    "SubscriptionRepository",
    "TransactionRepository",
]
