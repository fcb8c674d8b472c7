"""Apply registry household events to the read model (idempotency comes from the inbox)."""

from __future__ import annotations

from datetime import date

from sqlalchemy.ext.asyncio import AsyncSession

from fupin_events.registry import (
    HouseholdRegistered,
    HouseholdStatus,
    HouseholdStatusChanged,
    HouseholdUpdated,
)
from fupin_funds.households.eligibility import StatusPoint, Verdict, eligible_at, status_at
from fupin_funds.households.models import HouseholdView
from fupin_funds.households.repository import HouseholdRepository, recorded_order


async def apply_registered(
    session: AsyncSession, data: HouseholdRegistered, event_day: date
) -> None:
    repository = HouseholdRepository(session)
    effective = data.registered_on or event_day
    await repository.upsert(
        {
            "household_id": data.household_id,
            "village_code": data.village_code,
            "status": data.status.value,
            "member_count": data.member_count,
            "member_indexes": list(data.member_indexes),
            "registered_on": data.registered_on,
            "status_since": effective,
            "registry_version": data.version,
        },
        update=["village_code", "member_count", "member_indexes", "registered_on"],
    )
    if not await repository.history(data.household_id):
        for status, since in registration_points(data, event_day):
            await repository.add_status(data.household_id, status, since, data.version)
    await _refresh_status(repository, data.household_id)


def registration_points(data: HouseholdRegistered, event_day: date) -> list[tuple[str, date]]:
    """The statuses a household registered in one step went through, with their days. A county
    import registers a household already exited (or returned since): identified on its
    registration, exited on its exit day, so that the exit's transition period runs from the
    real exit; a return is dated the day the registry recorded it (the import gives no day)."""
    effective = data.registered_on or event_day
    exited = data.exited_on
    if exited is None or data.status not in (HouseholdStatus.EXITED, HouseholdStatus.RETURNED):
        return [(data.status.value, effective)]
    points = [(HouseholdStatus.IDENTIFIED.value, min(effective, exited))]
    points.append((HouseholdStatus.EXITED.value, exited))
    if data.status is HouseholdStatus.RETURNED:
        points.append((HouseholdStatus.RETURNED.value, max(event_day, exited)))
    return points


async def apply_updated(session: AsyncSession, data: HouseholdUpdated, event_day: date) -> None:
    repository = HouseholdRepository(session)
    await repository.upsert(
        {
            "household_id": data.household_id,
            "village_code": data.village_code,
            "status": "applied",
            "member_count": data.member_count,
            "member_indexes": list(data.member_indexes),
            "status_since": event_day,
            "registry_version": data.version,
        },
        update=["village_code", "member_count", "member_indexes"],
    )


async def apply_status_changed(session: AsyncSession, data: HouseholdStatusChanged) -> None:
    repository = HouseholdRepository(session)
    await repository.upsert(
        {
            "household_id": data.household_id,
            "village_code": data.village_code,
            "status": data.to_status.value,
            "member_count": data.member_count,
            "member_indexes": list(data.member_indexes),
            "status_since": data.effective_on,
            "registry_version": data.version,
        },
        update=["village_code", "member_count", "member_indexes"],
    )
    await repository.add_status(
        data.household_id, data.to_status.value, data.effective_on, data.version
    )
    await _refresh_status(repository, data.household_id)


async def _refresh_status(repository: HouseholdRepository, household_id: str) -> None:
    """The current status is the latest the registry recorded (by its household version, so an
    event delivered late does not overwrite a newer one), whatever business dates they carry."""
    history = sorted(await repository.history(household_id), key=recorded_order)
    household = await repository.get(household_id)
    if household is None or not history:
        return
    latest = history[-1]
    household.status = latest.status
    household.status_since = latest.effective_on
    # The registry's dates: registered when first identified (a case's approval; an import
    # or a registration says so itself), the last exit kept after a return.
    if household.registered_on is None:
        identified = [h.effective_on for h in history if h.status == "identified"]
        household.registered_on = min(identified) if identified else None
    exits = [h.effective_on for h in history if h.status == "exited"]
    household.exited_on = exits[-1] if exits else None
    removed = [h.effective_on for h in history if h.status == "removed"]
    household.removed_on = removed[-1] if removed else None
    await repository.session.flush()


async def points(session: AsyncSession, household_id: str) -> list[StatusPoint]:
    history = await HouseholdRepository(session).history(household_id)
    ranks = {h.id: rank for rank, h in enumerate(sorted(history, key=recorded_order), start=1)}
    return [StatusPoint(h.status, h.effective_on, ranks[h.id]) for h in history]


async def verdict_at(
    session: AsyncSession, household: HouseholdView, day: date, transition_months: int
) -> Verdict:
    return eligible_at(await points(session, household.household_id), day, transition_months)


async def status_on(session: AsyncSession, household_id: str, day: date) -> str | None:
    point = status_at(await points(session, household_id), day)
    return None if point is None else point.status
