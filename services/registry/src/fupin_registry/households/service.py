"""Household commands: every change bumps the version, writes a history row and an event.

The session is flushed, never committed: the request (or message) boundary commits.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Sequence
from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from fupin_events.envelope import EventData
from fupin_events.values import birth_date_of, business_today, sex_of
from fupin_kit.auth import Caller
from fupin_kit.outbox import add_event
from fupin_kit.problems import Unprocessable
from fupin_registry.access import require_writer
from fupin_registry.config import Settings
from fupin_registry.households import events
from fupin_registry.households.domain import (
    CLOSED_STATUSES,
    Finding,
    cause_findings,
    duplicate_positions,
    head_change_findings,
    head_findings,
    identity_findings,
    income_findings,
)
from fupin_registry.households.exceptions import HouseholdClosed, conflict, raise_if
from fupin_registry.households.models import AssistanceMeasure, Household, Member
from fupin_registry.households.repository import HistoryRepository, HouseholdRepository
from fupin_registry.households.schemas import (
    HeadChange,
    HouseholdCreate,
    HouseholdRead,
    HouseholdUpdate,
    IncomeWrite,
    MeasureWrite,
    MemberCreate,
    MemberUpdate,
)
from fupin_registry.households.snapshot import origin_of, personal_fields, render, snapshot_of
from fupin_registry.privacy import Privacy, audit_unmasked_read
from fupin_registry.regions.directory import RegionDirectory
from fupin_registry.vocabulary import HouseholdStatus

ENCRYPTED_FIELDS = {"phone": "phone_enc", "bank_account": "bank_account_enc"}
HEAD_CHANGE_HINT = (
    "a household has exactly one head: change the head with POST /v1/households/{id}/head"
)
NOT_NULL_FIELDS = {
    "attribute",
    "support_type",
    "primary_cause",
    "secondary_causes",
    "identification_standard",
    "housing_safety",
    "drinking_water_safe",
}


class HouseholdService:
    def __init__(
        self,
        session: AsyncSession,
        *,
        privacy: Privacy,
        regions: RegionDirectory,
        settings: Settings,
    ) -> None:
        self.session = session
        self.privacy = privacy
        self.regions = regions
        self.settings = settings
        self.households = HouseholdRepository(session)
        self.history = HistoryRepository(session)

    # --- reading --------------------------------------------------------------------------

    async def snapshot(self, household: Household) -> dict[str, Any]:
        return snapshot_of(
            household,
            await self.households.members(household.id),
            await self.households.incomes(household.id),
            await self.households.measures(household.id),
        )

    async def read(self, household: Household, caller: Caller) -> HouseholdRead:
        snapshot = await self.snapshot(household)
        await audit_unmasked_read(
            self.session, caller, "household", str(household.id), personal_fields(snapshot)
        )
        return render(
            snapshot,
            self.privacy,
            caller,
            village_name=self.regions.name_of(household.village_code),
            imported_from=origin_of(household),
        )

    # --- creating -------------------------------------------------------------------------

    async def create(self, body: HouseholdCreate, caller: Caller) -> Household:
        require_writer(caller)
        caller.require_region_write(body.village_code)
        self.regions.require_village(body.village_code, "#/body/village_code")
        year = body.year or business_today().year
        findings = cause_findings(body.primary_cause, body.secondary_causes)
        findings += self._year_findings(year, "#/body/year")
        findings += head_findings([m.relation for m in body.members], "#/body/members")
        if len(body.members) > self.settings.max_household_members:
            findings.append(
                Finding("#/body/members", f"at most {self.settings.max_household_members} members")
            )
        for position, member in enumerate(body.members):
            findings += self._member_findings(member, f"#/body/members/{position}")
        seen_years: set[int] = set()
        for position, income in enumerate(body.incomes):
            pointer = f"#/body/incomes/{position}"
            findings += self._income_year_findings(income.year, f"{pointer}/year")
            findings += self._income_findings(income, pointer)
            if income.year in seen_years:
                findings.append(Finding(f"{pointer}/year", "this year is given twice"))
            seen_years.add(income.year)
        raise_if(findings)

        indexes = [self.privacy.index.of(m.id_number) for m in body.members]

        async def refuse_taken() -> None:
            await self._refuse_taken_people(indexes, "#/body/members/{}/id_number")
            await self._refuse_taken_number(body.village_code, body.household_number)

        await refuse_taken()

        household = Household(
            id=uuid.uuid4(),
            village_code=body.village_code,
            household_number=body.household_number,
            attribute=body.attribute,
            support_type=body.support_type,
            primary_cause=body.primary_cause,
            secondary_causes=list(body.secondary_causes),
            identification_standard=body.identification_standard,
            phone_enc=self.privacy.seal(body.phone, "phone"),
            bank_account_enc=self.privacy.seal(body.bank_account, "bank_account"),
            housing_safety=body.housing_safety,
            drinking_water_safe=body.drinking_water_safe,
            status=HouseholdStatus.APPLIED,
            year=year,
            version=1,
        )
        members = [
            self._new_member(household.id, m, index)
            for m, index in zip(body.members, indexes, strict=True)
        ]

        async def insert() -> None:
            await self.households.add(household)
            await self.households.add_members(members)

        await self._insert_unless_taken(insert, refuse_taken)
        for income in body.incomes:
            await self.households.replace_incomes(household.id, income.year, self._amounts(income))
        if body.plan:
            await self.households.replace_measures(
                household.id, year, [self._new_measure(household.id, year, m) for m in body.plan]
            )
        await self._record(household, caller.actor, "created", [])
        await add_event(
            self.session, events.registered(household, members), subject=str(household.id)
        )
        return household

    # --- updating -------------------------------------------------------------------------

    async def update(
        self, household: Household, body: HouseholdUpdate, caller: Caller
    ) -> Household:
        self._check_writable(household, caller)
        given = body.model_dump(exclude_unset=True)
        findings = [
            Finding(f"#/body/{field}", "cannot be null")
            for field, value in given.items()
            if value is None and field in NOT_NULL_FIELDS
        ]
        raise_if(findings)
        primary = given.get("primary_cause", household.primary_cause)
        secondary = given.get("secondary_causes", household.secondary_causes)
        raise_if(cause_findings(primary, list(secondary)))
        changed = []
        for field, value in given.items():
            if field in ENCRYPTED_FIELDS:
                column = ENCRYPTED_FIELDS[field]
                if self.privacy.open(getattr(household, column), field) != value:
                    setattr(household, column, self.privacy.seal(value, field))
                    changed.append(field)
            elif getattr(household, field) != (list(value) if isinstance(value, list) else value):
                setattr(household, field, list(value) if isinstance(value, list) else value)
                changed.append(field)
        if changed:
            await self._changed(household, caller.actor, "updated", changed)
        return household

    async def add_member(self, household: Household, body: MemberCreate, caller: Caller) -> Member:
        self._check_writable(household, caller)
        members = await self.households.members(household.id)
        findings = self._member_findings(body, "#/body")
        if len(members) + 1 > self.settings.max_household_members:
            findings.append(
                Finding("#/body", f"at most {self.settings.max_household_members} members")
            )
        findings += head_findings(
            [m.relation for m in members] + [body.relation], "#/body/relation"
        )
        raise_if(findings)
        index = self.privacy.index.of(body.id_number)

        async def refuse_taken() -> None:
            await self._refuse_taken_people([index], "#/body/id_number")

        await refuse_taken()
        member = self._new_member(household.id, body, index)
        await self._insert_unless_taken(lambda: self.households.add_members([member]), refuse_taken)
        await self._changed(household, caller.actor, "member_added", ["members"])
        return member

    async def update_member(
        self, household: Household, member: Member, body: MemberUpdate, caller: Caller
    ) -> None:
        self._check_writable(household, caller)
        given = body.model_dump(exclude_unset=True)
        raise_if(
            [
                Finding(f"#/body/{field}", "cannot be null")
                for field, value in given.items()
                if value is None and field not in {"education", "school_status", "disability"}
            ]
        )
        if "relation" in given:
            others = [
                m.relation for m in await self.households.members(household.id) if m.id != member.id
            ]
            if head_findings(others + [given["relation"]], "#/body/relation"):
                raise_if([Finding("#/body/relation", HEAD_CHANGE_HINT)])
        if given.get("health", member.health) == "disabled" and not given.get(
            "disability", member.disability
        ):
            raise_if([Finding("#/body/disability", "describe the disability of a disabled member")])
        changed = False
        for field, value in given.items():
            if field == "name":
                if self.privacy.open(member.name_enc, "name") != value:
                    member.name_enc = self.privacy.seal(value, "name")  # type: ignore[assignment]
                    changed = True
            elif getattr(member, field) != value:
                setattr(member, field, value)
                changed = True
        if changed:
            await self.session.flush()
            await self._changed(household, caller.actor, "member_updated", ["members"])

    async def remove_member(
        self,
        household: Household,
        member: Member,
        reason: str,
        on: date,
        caller: Caller,
        on_pointer: str = "#/query/on",
    ) -> None:
        self._check_writable(household, caller)
        refuse_before_birth(member, on, on_pointer)
        members = await self.households.members(household.id)
        if len(members) == 1:
            raise conflict(
                "#/path/member_id",
                "the last member cannot leave; close the household with a natural-decrease case",
            )
        if member.relation == "head":
            raise conflict("#/path/member_id", HEAD_CHANGE_HINT)
        member.left_on = on
        member.left_reason = reason
        member.active = False
        await self.session.flush()
        await self._changed(household, caller.actor, "member_left", ["members"])

    async def change_head(
        self,
        household: Household,
        body: HeadChange,
        on: date,
        caller: Caller,
        on_pointer: str = "#/body/on",
    ) -> Member:
        """Another member becomes the head in one change, so the household always has exactly
        one; the former head takes another relation or leaves (e.g. dies)."""
        self._check_writable(household, caller)
        members = await self.households.members(household.id)
        new_head = next((m for m in members if m.id == body.member_id), None)
        findings = head_change_findings(
            new_head_relation=None if new_head is None else new_head.relation,
            former_head_relation=body.former_head_relation,
            former_head_departure=body.former_head_departure,
        )
        raise_if(findings)
        assert new_head is not None
        for former in (m for m in members if m.relation == "head"):
            if body.former_head_departure is not None:
                refuse_before_birth(former, on, on_pointer)
                former.left_on = on
                former.left_reason = body.former_head_departure
                former.active = False
            else:
                former.relation = body.former_head_relation  # type: ignore[assignment]
        new_head.relation = "head"
        await self.session.flush()
        await self._changed(household, caller.actor, "head_changed", ["members"])
        return new_head

    async def set_incomes(
        self, household: Household, year: int, body: IncomeWrite, caller: Caller
    ) -> None:
        self._check_writable(household, caller)
        findings = self._income_year_findings(year, "#/path/year") + self._income_findings(
            body, "#/body"
        )
        raise_if(findings)
        await self.households.replace_incomes(household.id, year, self._amounts(body))
        await self._changed(household, caller.actor, "incomes_changed", ["incomes"])

    async def set_plan(
        self, household: Household, year: int, measures: Sequence[MeasureWrite], caller: Caller
    ) -> None:
        self._check_writable(household, caller)
        if not self.settings.earliest_register_year <= year <= business_today().year + 1:
            raise_if([Finding("#/path/year", "outside the years of the register")])
        await self.households.replace_measures(
            household.id, year, [self._new_measure(household.id, year, m) for m in measures]
        )
        household.version += 1
        await self.session.flush()
        await self._record(household, caller.actor, "plan_changed", ["plan"])
        all_measures = await self.households.measures(household.id)
        await add_event(
            self.session,
            events.plan_changed(household, year, all_measures),
            subject=str(household.id),
        )

    # --- used by other domains ------------------------------------------------------------

    async def change_status(
        self,
        household: Household,
        to_status: HouseholdStatus,
        *,
        actor: str,
        effective_on: date,
        reason: str | None = None,
        case_id: str | None = None,
    ) -> None:
        """The only way a household's status changes (identification and dynamic management)."""
        from_status = household.status
        household.status = to_status
        if to_status == HouseholdStatus.IDENTIFIED:
            household.registered_on = effective_on
            household.year = effective_on.year
        elif to_status == HouseholdStatus.EXITED:
            household.exited_on = effective_on
        if to_status in CLOSED_STATUSES:
            await self.households.deactivate_members(household.id)
        household.version += 1
        await self.session.flush()
        await self._record(household, actor, "status_changed", ["status"], effective_on)
        members = await self.households.members(household.id)
        await add_event(
            self.session,
            events.status_changed(
                household,
                members,
                from_status=from_status,
                reason=reason,
                effective_on=effective_on,
                case_id=case_id,
            ),
            subject=str(household.id),
        )

    async def set_cadre(
        self, household: Household, cadre_id: str, name: str, paired_on: date, actor: str
    ) -> bool:
        """Record the responsible cadre. Ignored: a household that left the register, a pairing
        older than the one shown, and the cadre already shown (paired since the earlier date;
        changing only the date would change the household without a version)."""
        if household.status in CLOSED_STATUSES:
            return False
        if household.cadre_paired_on is not None and paired_on < household.cadre_paired_on:
            return False
        if (household.responsible_cadre_id, household.responsible_cadre_name) == (cadre_id, name):
            return False
        household.responsible_cadre_id = cadre_id
        household.responsible_cadre_name = name
        household.cadre_paired_on = paired_on
        await self._changed(household, actor, "cadre_paired", ["responsible_cadre"])
        return True

    # --- internals ------------------------------------------------------------------------

    def _check_writable(self, household: Household, caller: Caller) -> None:
        require_writer(caller)
        if household.status in CLOSED_STATUSES:
            raise HouseholdClosed(f"the household is {household.status}; it can no longer change")

    async def _changed(
        self, household: Household, actor: str, action: str, changed: list[str]
    ) -> None:
        household.version += 1
        await self.session.flush()
        await self._record(household, actor, action, changed)
        members = await self.households.members(household.id)
        incomes = await self.households.incomes(household.id)
        event: EventData = events.updated(household, members, incomes, changed)
        await add_event(self.session, event, subject=str(household.id))

    async def _record(
        self,
        household: Household,
        actor: str,
        action: str,
        changed: list[str],
        effective_on: date | None = None,
    ) -> None:
        await self.history.append(
            household,
            await self.snapshot(household),
            actor=actor,
            action=action,
            changed=changed,
            effective_on=effective_on,
        )

    async def _refuse_taken_people(self, indexes: list[bytes], pointer: str) -> None:
        """A person belongs to at most one live household (409 naming the member field)."""
        duplicates = duplicate_positions(indexes)
        if duplicates:
            raise_if(
                [Finding(pointer.format(p), "this person is listed twice") for p in duplicates]
            )
        holders = await self.households.active_holders(indexes)
        for position, index in enumerate(indexes):
            if index in holders:
                raise conflict(
                    pointer.format(position), "this person already belongs to an active household"
                )

    async def _refuse_taken_number(self, village_code: str, household_number: str) -> None:
        if await self.households.number_taken(village_code, household_number):
            raise conflict(
                "#/body/household_number", "this household number is already used in the village"
            )

    async def _insert_unless_taken(
        self, insert: Callable[[], Awaitable[None]], refuse_taken: Callable[[], Awaitable[None]]
    ) -> None:
        """Insert in a savepoint. A concurrent request can pass the same checks and commit the
        same person or household number first (the unique index makes this insert wait for it,
        then refuses it): the checks, run again, then see it and answer as they would have."""
        try:
            async with self.session.begin_nested():
                await insert()
        except IntegrityError:
            await refuse_taken()
            raise

    def _member_findings(self, member: MemberCreate, pointer: str) -> list[Finding]:
        findings = identity_findings(member.id_number, member.birth_date, member.sex, pointer)
        if member.health == "disabled" and not member.disability:
            findings.append(
                Finding(f"{pointer}/disability", "describe the disability of a disabled member")
            )
        return findings

    def _year_findings(self, year: int, pointer: str) -> list[Finding]:
        if not self.settings.earliest_register_year <= year <= business_today().year:
            return [
                Finding(
                    pointer,
                    f"must lie between {self.settings.earliest_register_year} and this year",
                )
            ]
        return []

    def _income_year_findings(self, year: int, pointer: str) -> list[Finding]:
        """An income year may be the one before the register's first: identification in its
        first year assesses the incomes of the year before (as the import accepts them)."""
        first = self.settings.earliest_register_year - 1
        if not first <= year <= business_today().year:
            return [Finding(pointer, f"must lie between {first} and this year")]
        return []

    def _income_findings(self, income: IncomeWrite, pointer: str) -> list[Finding]:
        return income_findings(self._amounts(income), self.settings.max_household_income, pointer)

    @staticmethod
    def _amounts(income: IncomeWrite) -> dict[str, Decimal]:
        return {
            source: Decimal(amount)
            for source, amount in income.model_dump(exclude={"year"}).items()
        }

    def _new_member(self, household_id: uuid.UUID, body: MemberCreate, index: bytes) -> Member:
        return Member(
            id=uuid.uuid4(),
            household_id=household_id,
            id_index=index,
            id_number_enc=self.privacy.seal(body.id_number, "id_number"),
            name_enc=self.privacy.seal(body.name, "name"),
            sex=sex_of(body.id_number),
            birth_date=birth_date_of(body.id_number),
            relation=body.relation,
            ethnicity=body.ethnicity,
            education=body.education,
            school_status=body.school_status,
            health=body.health,
            disability=body.disability,
            labour_ability=body.labour_ability,
            migrant_months=body.migrant_months,
            medical_insurance=body.medical_insurance,
            pension_insurance=body.pension_insurance,
            active=True,
        )

    @staticmethod
    def _new_measure(household_id: uuid.UUID, year: int, body: MeasureWrite) -> AssistanceMeasure:
        return AssistanceMeasure(
            id=uuid.uuid4(),
            household_id=household_id,
            year=year,
            measure_type=body.measure_type,
            description=body.description,
            responsible_cadre_id=body.responsible_cadre_id,
        )


__all__ = ["CLOSED_STATUSES", "HouseholdService", "refuse_before_birth"]


def refuse_before_birth(member: Member, on: date, pointer: str) -> None:
    """A member cannot leave (die, move away) before they were born."""
    if on < member.birth_date:
        # The date is not named: beside a masked ID number it would give the hidden digits away.
        raise Unprocessable(pointer, "is before the member's birth date")
