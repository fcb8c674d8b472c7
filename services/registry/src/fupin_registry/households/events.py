"""Registry events about households: built from the stored state, never with clear PII."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from decimal import Decimal

from fupin_events import registry as ev
from fupin_registry.households.bulk import HouseholdRow, MemberRow
from fupin_registry.households.domain import per_capita_net_income
from fupin_registry.households.models import AssistanceMeasure, Household, HouseholdIncome, Member


def member_indexes(members: Sequence[Member | MemberRow]) -> list[str]:
    return [m.id_index.hex() for m in members if m.left_on is None]


def latest_per_capita(incomes: Sequence[HouseholdIncome], household_size: int) -> str | None:
    if not incomes:
        return None
    latest = max(i.year for i in incomes)
    amounts = {i.source: Decimal(i.amount) for i in incomes if i.year == latest}
    value = per_capita_net_income(amounts, household_size)
    return None if value is None else f"{value:.2f}"


def registered(
    household: Household | HouseholdRow, members: Sequence[Member | MemberRow]
) -> ev.HouseholdRegistered:
    indexes = member_indexes(members)
    return ev.HouseholdRegistered(
        household_id=str(household.id),
        village_code=household.village_code,
        household_number=household.household_number,
        attribute=ev.HouseholdAttribute(household.attribute),
        support_type=ev.SupportType(household.support_type),
        primary_cause=household.primary_cause,
        status=ev.HouseholdStatus(household.status),
        member_count=len(indexes),
        member_indexes=indexes,
        registered_on=household.registered_on,
        exited_on=household.exited_on,
        year=household.year,
        version=household.version,
    )


def updated(
    household: Household,
    members: Sequence[Member],
    incomes: Sequence[HouseholdIncome],
    changed: Sequence[str],
) -> ev.HouseholdUpdated:
    indexes = member_indexes(members)
    return ev.HouseholdUpdated(
        household_id=str(household.id),
        village_code=household.village_code,
        changed=list(changed),
        attribute=ev.HouseholdAttribute(household.attribute),
        support_type=ev.SupportType(household.support_type),
        member_count=len(indexes),
        member_indexes=indexes,
        per_capita_net_income=latest_per_capita(incomes, len(indexes)),
        status=ev.HouseholdStatus(household.status),
        version=household.version,
    )


def status_changed(
    household: Household | HouseholdRow,
    members: Sequence[Member | MemberRow],
    *,
    from_status: str | None,
    reason: str | None,
    effective_on: date,
    case_id: str | None,
) -> ev.HouseholdStatusChanged:
    indexes = member_indexes(members)
    return ev.HouseholdStatusChanged(
        household_id=str(household.id),
        village_code=household.village_code,
        from_status=ev.HouseholdStatus(from_status) if from_status else None,
        to_status=ev.HouseholdStatus(household.status),
        reason=reason,
        effective_on=effective_on,
        case_id=case_id,
        member_count=len(indexes),
        member_indexes=indexes,
        attribute=ev.HouseholdAttribute(household.attribute),
        version=household.version,
    )


def plan_changed(
    household: Household, year: int, measures: Sequence[AssistanceMeasure]
) -> ev.AssistancePlanChanged:
    return ev.AssistancePlanChanged(
        household_id=str(household.id),
        village_code=household.village_code,
        year=year,
        measures=[
            ev.AssistanceMeasure(
                measure_type=m.measure_type,
                description=m.description,
                responsible_cadre_id=m.responsible_cadre_id,
            )
            for m in measures
            if m.year == year
        ],
    )
