"""The stored form of a household at one moment, and how it is shown.

A snapshot is what ``household_versions.snapshot`` holds: the household row, its current members,
incomes and plan, with personal fields still encrypted (base64). Current reads and ``as_of``
reads go through the same renderer, so history shows exactly what a read showed at the time.
Any writer of ``household_versions`` (bulk import included) must use :func:`snapshot_of` or the
same keys; statistics ``as_of`` read ``attribute``, ``primary_cause``, ``year`` and ``members``.
"""

from __future__ import annotations

import base64
from collections import defaultdict
from collections.abc import Iterable
from datetime import date
from decimal import Decimal
from typing import Any

from fupin_kit.auth import Caller
from fupin_registry.households.bulk import HouseholdRow, IncomeRow, MeasureRow, MemberRow
from fupin_registry.households.domain import net_income, per_capita_net_income
from fupin_registry.households.models import AssistanceMeasure, Household, HouseholdIncome, Member
from fupin_registry.households.schemas import (
    CadreRead,
    HouseholdRead,
    ImportOrigin,
    IncomeYearRead,
    MeasureRead,
    MemberRead,
)
from fupin_registry.privacy import PII_READ_SCOPE, Privacy
from fupin_registry.vocabulary import IncomeSource

HOUSEHOLD_FIELDS = (
    "village_code",
    "household_number",
    "attribute",
    "support_type",
    "primary_cause",
    "secondary_causes",
    "identification_standard",
    "housing_safety",
    "drinking_water_safe",
    "status",
    "year",
    "responsible_cadre_id",
    "responsible_cadre_name",
    "version",
)
MEMBER_FIELDS = (
    "sex",
    "relation",
    "ethnicity",
    "education",
    "school_status",
    "health",
    "disability",
    "labour_ability",
    "migrant_months",
    "medical_insurance",
    "pension_insurance",
)


def _b64(blob: bytes | None) -> str | None:
    return None if blob is None else base64.b64encode(blob).decode()


def _unb64(text: str | None) -> bytes | None:
    return None if text is None else base64.b64decode(text)


def _iso(value: date | None) -> str | None:
    return None if value is None else value.isoformat()


def member_snapshot(member: Member | MemberRow) -> dict[str, Any]:
    data: dict[str, Any] = {field: getattr(member, field) for field in MEMBER_FIELDS}
    data.update(
        id=str(member.id),
        id_index=member.id_index.hex(),
        id_number_enc=_b64(member.id_number_enc),
        name_enc=_b64(member.name_enc),
        birth_date=member.birth_date.isoformat(),
    )
    return data


def snapshot_of(
    household: Household | HouseholdRow,
    members: Iterable[Member | MemberRow],
    incomes: Iterable[HouseholdIncome | IncomeRow],
    measures: Iterable[AssistanceMeasure | MeasureRow],
) -> dict[str, Any]:
    data: dict[str, Any] = {field: getattr(household, field) for field in HOUSEHOLD_FIELDS}
    data.update(
        id=str(household.id),
        secondary_causes=list(household.secondary_causes or []),
        phone_enc=_b64(household.phone_enc),
        bank_account_enc=_b64(household.bank_account_enc),
        registered_on=_iso(household.registered_on),
        exited_on=_iso(household.exited_on),
        cadre_paired_on=_iso(household.cadre_paired_on),
        members=[member_snapshot(m) for m in members if m.left_on is None],
        incomes=[
            {"year": i.year, "source": i.source, "amount": str(i.amount)}
            for i in sorted(incomes, key=lambda i: (i.year, i.source))
        ],
        measures=[
            {
                "year": m.year,
                "measure_type": m.measure_type,
                "description": m.description,
                "responsible_cadre_id": m.responsible_cadre_id,
            }
            for m in measures
        ],
    )
    return data


def income_years(incomes: Iterable[dict[str, Any]], household_size: int) -> list[IncomeYearRead]:
    by_year: dict[int, dict[str, Decimal]] = defaultdict(dict)
    for row in incomes:
        by_year[int(row["year"])][row["source"]] = Decimal(row["amount"])
    years = []
    for year in sorted(by_year):
        amounts = by_year[year]
        years.append(
            IncomeYearRead(
                year=year,
                **{s.value: amounts.get(s.value, Decimal(0)) for s in IncomeSource},
                net_income=net_income(amounts),
                per_capita_net_income=per_capita_net_income(amounts, household_size),
            )
        )
    return years


def personal_fields(snapshot: dict[str, Any]) -> list[str]:
    """The personal fields a read of this snapshot shows (for the audit of unmasked reads)."""
    fields = {"id_number", "name", "birth_date"} if snapshot["members"] else set()
    if snapshot.get("phone_enc"):
        fields.add("phone")
    if snapshot.get("bank_account_enc"):
        fields.add("bank_account")
    return sorted(fields)


def render(
    snapshot: dict[str, Any],
    privacy: Privacy,
    caller: Caller,
    *,
    village_name: str | None,
    as_of: date | None = None,
    imported_from: ImportOrigin | None = None,
) -> HouseholdRead:
    masked = not caller.has_scope(PII_READ_SCOPE)
    members = [
        MemberRead(
            **{field: m[field] for field in MEMBER_FIELDS},
            id=m["id"],
            id_number=privacy.reveal(_unb64(m["id_number_enc"]), "id_number", caller) or "",
            name=privacy.reveal(_unb64(m["name_enc"]), "name", caller) or "",
            # The masked ID number keeps the area code and the last four characters; the
            # birth date would supply the rest, and its year would narrow it to a few dozen.
            birth_date=None if masked else m["birth_date"],
            birth_year=None if masked else int(m["birth_date"][:4]),
        )
        for m in snapshot["members"]
    ]
    cadre = None
    if snapshot.get("responsible_cadre_id"):
        cadre = CadreRead(
            id=snapshot["responsible_cadre_id"],
            name=snapshot.get("responsible_cadre_name"),
            paired_on=snapshot.get("cadre_paired_on"),
        )
    return HouseholdRead(
        id=snapshot["id"],
        village_code=snapshot["village_code"],
        village_name=village_name,
        household_number=snapshot["household_number"],
        attribute=snapshot["attribute"],
        support_type=snapshot["support_type"],
        primary_cause=snapshot["primary_cause"],
        secondary_causes=snapshot["secondary_causes"],
        identification_standard=snapshot["identification_standard"],
        phone=privacy.reveal(_unb64(snapshot.get("phone_enc")), "phone", caller),
        bank_account=privacy.reveal(
            _unb64(snapshot.get("bank_account_enc")), "bank_account", caller
        ),
        housing_safety=snapshot["housing_safety"],
        drinking_water_safe=snapshot["drinking_water_safe"],
        status=snapshot["status"],
        year=snapshot["year"],
        registered_on=snapshot.get("registered_on"),
        exited_on=snapshot.get("exited_on"),
        responsible_cadre=cadre,
        version=snapshot["version"],
        member_count=len(members),
        members=members,
        incomes=income_years(snapshot["incomes"], len(members)),
        plan=[MeasureRead(**m) for m in snapshot["measures"]],
        masked=masked,
        as_of=as_of,
        imported_from=imported_from,
    )


def origin_of(household: Household) -> ImportOrigin | None:
    """The import a household came from (kept on its row, not in its history)."""
    if household.import_job_id is None or household.import_row is None:
        return None
    return ImportOrigin(job_id=household.import_job_id, row=household.import_row)
