"""Runs the workflow: gathers the facts, asks the state machine, applies the transition.

Every step is recorded (CaseStep: actor, time, business date, evidence); a status change goes
through the household service (version, history, HouseholdStatusChanged event).
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from dataclasses import replace
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from fupin_events.values import business_today
from fupin_kit.audit import AuditRecord, AuditTrail
from fupin_kit.auth import Caller
from fupin_kit.free_text import holds_personal_number, mask_personal_numbers
from fupin_kit.outbox import add_events
from fupin_kit.problems import Forbidden, NotFound, Unprocessable
from fupin_registry.access import Tier, require_admin, require_tier, require_writer
from fupin_registry.config import Settings
from fupin_registry.crosscheck.events import HOUSEHOLD_CLOSED, flag_resolved
from fupin_registry.households.domain import household_size_at_year_end, per_capita_net_income
from fupin_registry.households.models import Household
from fupin_registry.households.service import CLOSED_STATUSES, HouseholdService
from fupin_registry.identification import domain
from fupin_registry.identification.domain import CaseKind, CaseState, Command, Policy, Transition
from fupin_registry.identification.exceptions import OpenCaseExists, problem_for
from fupin_registry.identification.models import Case, CaseStep, ExclusionRule, Objection
from fupin_registry.identification.repository import CaseRepository, ExclusionRuleRepository
from fupin_registry.identification.schemas import (
    AppraisalCreate,
    ApprovalCreate,
    CaseCreate,
    CaseRead,
    CaseStepRead,
    Evidence,
    ExclusionRuleUpdate,
    NoticeCompletion,
    ObjectionCreate,
    ObjectionRead,
    ObjectionResolution,
    ReviewCreate,
)
from fupin_registry.privacy import PII_READ_SCOPE, Privacy, audit_unmasked_read
from fupin_registry.quotas.service import QuotaPosition, QuotaService
from fupin_registry.regions.directory import RegionDirectory


def business_date(on: date | None, earliest_year: int) -> date:
    """The date a step takes effect: today by default, never in the future, and never before
    the register's first year (no household can have a step before it)."""
    today = business_today()
    if on is None:
        return today
    if on > today:
        raise Unprocessable("#/body/on", "a step cannot be dated in the future")
    first_day = date(earliest_year, 1, 1)
    if on < first_day:
        raise Unprocessable(
            "#/body/on", f"a step cannot be dated before {first_day}, when the register begins"
        )
    return on


class WorkflowService:
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
        self.settings = settings
        self.cases = CaseRepository(session)
        self.rules = ExclusionRuleRepository(session)
        self.households = HouseholdService(
            session, privacy=privacy, regions=regions, settings=settings
        )
        self.quotas = QuotaService(session, regions)
        self.policy = Policy(
            notice_days=settings.notice_days,
            pass_share=settings.appraisal_pass_share,
            counts_abstentions=settings.appraisal_counts_abstentions,
            min_votes=settings.appraisal_min_votes,
        )

    # --- opening --------------------------------------------------------------------------

    async def open(self, body: CaseCreate, caller: Caller) -> Case:
        require_writer(caller)
        household = await self.households.households.get(body.household_id, for_update=True)
        if household is None or not caller.sees(household.village_code):
            raise Unprocessable("#/body/household_id", "no such household in your jurisdiction")
        require_tier(caller, household.village_code, Tier.VILLAGE)
        if body.kind in (CaseKind.REMOVAL, CaseKind.NATURAL_DECREASE) and not body.reason:
            raise Unprocessable("#/body/reason", f"a {body.kind} case needs a reason")
        if body.kind != CaseKind.NATURAL_DECREASE and body.decrease_cause is not None:
            raise Unprocessable("#/body/decrease_cause", "only for a natural_decrease case")
        if body.kind == CaseKind.NATURAL_DECREASE and body.decrease_cause is None:
            raise Unprocessable(
                "#/body/decrease_cause", "say whether the household died out or moved away"
            )
        on = self._business_date(body.on)
        # A case follows the household's history: it cannot open before the last case closed,
        # nor before the registration or exit its kind departs from.
        earliest = max(
            (
                day
                for day in (
                    await self.cases.last_closed_on(household.id),
                    household.exited_on,
                    household.registered_on if household.status != "applied" else None,
                )
                if day is not None
            ),
            default=None,
        )
        if earliest is not None and on < earliest:
            raise Unprocessable(
                "#/body/on",
                f"the household's history goes up to {earliest}: a new case opens on or after it",
            )
        try:
            view = domain.open_case(body.kind, household.status, on)
        except domain.WorkflowError as error:
            raise problem_for(error) from error
        if await self.cases.open_case_of(household.id) is not None:
            raise OpenCaseExists("the household already has an open case; finish it first")
        if body.kind == CaseKind.EXIT:
            # An exit is assessed on its year's line: without one it could never move on.
            self._require_poverty_lines(on.year, pointer="#/body/on")
        reason = body.reason
        if body.kind == CaseKind.NATURAL_DECREASE:
            reason = f"{body.decrease_cause}: {body.reason}"
        case = Case(
            id=uuid.uuid4(),
            kind=body.kind,
            household_id=household.id,
            village_code=household.village_code,
            state=view.state,
            year=on.year,
            reason=reason,
            opened_on=on,
            last_step_on=on,
            suspended=False,
            version=1,
        )
        await self.cases.add(case)
        await self._step(case, "applied", None, caller, on, body.evidence, {})
        return case

    # --- steps ----------------------------------------------------------------------------

    async def appraise(self, case: Case, body: AppraisalCreate, caller: Caller) -> list[str]:
        needs = {need.value: secured for need, secured in body.basic_needs.items()}
        command = domain.Appraise(
            self._business_date(body.on), body.votes_for, body.votes_against, body.votes_abstain
        )
        self._check_tier(case, caller)
        if case.kind == CaseKind.EXIT and self._would_pass(case, command):
            unmet = await self._unmet_exit_criteria(case, needs)
            command = replace(command, unmet_exit_criteria=tuple(unmet))
        extra = {"basic_needs": needs} if needs else {}
        await self._run(case, command, caller, body.evidence, extra)
        return []

    async def complete_notice(
        self, case: Case, body: NoticeCompletion, caller: Caller
    ) -> list[str]:
        await self._run(
            case, domain.CompleteNotice(self._business_date(body.on)), caller, body.evidence, {}
        )
        return []

    async def review(self, case: Case, body: ReviewCreate, caller: Caller) -> list[str]:
        command = domain.Review(
            self._business_date(body.on), body.decision == "approve", body.reason
        )
        await self._run(case, command, caller, body.evidence, {})
        return []

    async def approve(self, case: Case, body: ApprovalCreate, caller: Caller) -> list[str]:
        """County approval: exclusion rules block or warn, the quota refuses or is overridden."""
        command = domain.Approve(
            self._business_date(body.on), body.decision == "approve", body.reason
        )
        self._check_tier(case, caller)  # before taking locks
        warnings: list[str] = []
        over: list[QuotaPosition] = []
        if self._would_pass(case, command):
            await self._household(case)  # locked before its members, flags and incomes are read
            if case.kind == CaseKind.IDENTIFICATION:
                await self._refuse_before_head_birth(case, command.on)
            flags = await self.rules.flags_in_force(case.household_id)
            warnings = [f"flag: {kind}" for kind, effect in flags if effect != "block"]
            blocking = tuple(sorted({kind for kind, effect in flags if effect == "block"}))
            if case.kind in domain.QUOTA_KINDS:
                over = await self._count_against_quota(case, command.on)
            unmet: list[str] = []
            if case.kind == CaseKind.EXIT:
                # incomes may have changed since the appraisal: assess them again
                unmet = await self._unmet_exit_criteria(case, await self._appraised_needs(case))
            command = replace(
                command,
                blocking_flags=blocking,
                regions_over_quota=tuple(p.region_code for p in over),
                quota_override=self._quota_overridden(over, body, caller),
                unmet_exit_criteria=tuple(unmet),
            )
        transition = await self._run(case, command, caller, body.evidence, {"warnings": warnings})
        if transition.quota_override:
            case.quota_override_reason = body.quota_override_reason
            await AuditTrail(self.session).append(
                AuditRecord(
                    caller.actor,
                    "quota.override",
                    "case",
                    str(case.id),
                    {
                        "reason": body.quota_override_reason,
                        "household_id": str(case.household_id),
                        "over": [
                            {
                                "region": p.region_code,
                                "year": p.year,
                                "quota": p.quota,
                                "used": p.used,
                                "adding": p.adding,
                            }
                            for p in over
                        ],
                    },
                )
            )
            await self.session.flush()
        return warnings

    async def raise_objection(self, case: Case, body: ObjectionCreate, caller: Caller) -> list[str]:
        """Villagers object through an official: any writer whose jurisdiction covers the
        village records it (the case loader already refused callers who do not see it). A
        client system (a bank, a partner agency) never records one."""
        require_writer(caller)
        if caller.client_id is not None:
            raise Forbidden("an objection is recorded by an official, not by a client system")
        on = self._business_date(body.on)
        transition = self._decide(case, domain.RaiseObjection(on))
        objection = Objection(
            id=uuid.uuid4(),
            case_id=case.id,
            content=body.content,
            contact_enc=self.privacy.seal(body.contact, "phone"),
            status="open",
        )
        await self.cases.add_objection(objection)
        await self._apply(
            case, transition, caller, on, Evidence(), {"objection_id": str(objection.id)}
        )
        return []

    async def resolve_objection(
        self, case: Case, objection_id: uuid.UUID, body: ObjectionResolution, caller: Caller
    ) -> list[str]:
        objection = await self.cases.objection(case.id, objection_id)
        if objection is None:
            raise NotFound("objection not found")
        if objection.status != "open":
            raise problem_for(domain.IllegalStep(f"the objection is already {objection.status}"))
        on = self._business_date(body.on)
        others = await self.cases.open_objections(case.id) - 1
        command = domain.ResolveObjection(on, body.outcome == "upheld", body.resolution, others)
        await self._run(case, command, caller, Evidence(), {"objection_id": str(objection.id)})
        objection.status = body.outcome
        objection.resolution = body.resolution
        objection.resolved_by = caller.actor
        objection.resolved_at = datetime.now(UTC)
        await self.session.flush()
        if body.outcome == "upheld" and others:
            # The upheld objection rejected the case: the others have nothing left to suspend.
            await self.cases.close_open_objections(
                case.id,
                f"closed with the case: objection {objection.id} was upheld",
                caller.actor,
                objection.resolved_at,
            )
        return []

    # --- exclusion rules ------------------------------------------------------------------

    async def set_exclusion_rule(
        self, kind: str, body: ExclusionRuleUpdate, caller: Caller
    ) -> ExclusionRule:
        """The rules hold for the whole province: only a province-wide administrator changes
        them, and every change (old and new) is appended to the audit chain."""
        require_admin(caller)
        if len(caller.jurisdiction) > Tier.PROVINCE:
            raise Forbidden("exclusion rules hold province-wide: they need a province-level admin")
        old = await self.rules.get(kind, for_update=True)
        before = None if old is None else {"effect": old.effect, "description": old.description}
        rule = await self.rules.upsert(kind, body.effect, body.description, caller.actor)
        await AuditTrail(self.session).append(
            AuditRecord(
                caller.actor,
                "exclusion_rule.set",
                "exclusion_rule",
                kind,
                {"old": before, "new": {"effect": rule.effect, "description": rule.description}},
            )
        )
        return rule

    # --- reading --------------------------------------------------------------------------

    async def read(self, case: Case, caller: Caller, warnings: list[str] | None = None) -> CaseRead:
        steps = await self.cases.steps(case.id)
        objections = await self.cases.objections(case.id)
        # An objection's words are the public's own: a phone or ID number typed into them is
        # personal data too (masked without pii:read, audited when shown).
        shown = {"phone"} if any(o.contact_enc is not None for o in objections) else set()
        if any(_holds_number(o.content) for o in objections):
            shown.add("objection_content")
        if any(_holds_number(o.resolution) for o in objections):
            shown.add("objection_resolution")
        # Officers' own words (reasons, step notes and documents) may name people too.
        texts = [
            case.reason,
            case.rejection_reason,
            case.quota_override_reason,
            *(s.evidence for s in steps),
        ]
        if any(_holds_number(text) for text in texts):
            shown.add("case_text")
        await audit_unmasked_read(self.session, caller, "case", str(case.id), sorted(shown))
        clear = caller.has_scope(PII_READ_SCOPE)
        shown_text = _as_is if clear else _masked
        return CaseRead(
            id=case.id,
            kind=case.kind,
            household_id=case.household_id,
            village_code=case.village_code,
            state=case.state,
            suspended=case.suspended,
            year=case.year,
            opened_on=case.opened_on,
            notice_ends_on=case.notice_ends_on,
            version=case.version,
            reason=shown_text(case.reason),
            notice_started_on=case.notice_started_on,
            last_step_on=case.last_step_on,
            rejection_reason=shown_text(case.rejection_reason),
            quota_override_reason=shown_text(case.quota_override_reason),
            steps=[
                CaseStepRead(
                    step=s.step,
                    from_state=s.from_state,
                    to_state=s.to_state,
                    actor=s.actor,
                    at=s.at,
                    effective_on=s.effective_on,
                    evidence=shown_text(s.evidence),
                )
                for s in steps
            ],
            objections=[
                ObjectionRead(
                    id=o.id,
                    content=shown_text(o.content),
                    contact=self.privacy.reveal(o.contact_enc, "phone", caller),
                    status=o.status,
                    resolution=shown_text(o.resolution),
                    resolved_by=o.resolved_by,
                    resolved_at=o.resolved_at,
                    raised_at=o.created_at,
                )
                for o in objections
            ],
            warnings=warnings or [],
        )

    # --- internals ------------------------------------------------------------------------

    def _business_date(self, on: date | None) -> date:
        return business_date(on, self.settings.earliest_register_year)

    def _check_tier(self, case: Case, caller: Caller) -> None:
        require_writer(caller)
        require_tier(caller, case.village_code, domain.tier_for(self._view(case)))

    def _view(self, case: Case) -> domain.CaseView:
        return domain.CaseView(
            kind=CaseKind(case.kind),
            state=CaseState(case.state),
            opened_on=case.opened_on,
            last_step_on=case.last_step_on,
            suspended=case.suspended,
            notice_started_on=case.notice_started_on,
            notice_ends_on=case.notice_ends_on,
        )

    def _decide(self, case: Case, command: Command) -> Transition:
        try:
            return domain.decide(self._view(case), command, self.policy)
        except domain.WorkflowError as error:
            raise problem_for(error) from error

    def _would_pass(self, case: Case, command: Command) -> bool:
        """Whether the step moves the case on rather than rejecting it, decided before the
        facts only a passing step needs are gathered (exit criteria, flags, quota): a step the
        case does not allow, a suspended case, a bad date, too few votes or a rejection without
        a reason is refused here, and a failed vote or a rejection needs none of them."""
        return self._decide(case, command).case.state != CaseState.REJECTED

    async def _count_against_quota(self, case: Case, on: date) -> list[QuotaPosition]:
        """The quotas the household's members would exceed, counted under the household's lock
        (taken by the caller before the quota locks: case, household, quota, as every path
        takes them), so a member joining meanwhile is counted, not registered beyond the quota."""
        people = len(await self.households.households.members(case.household_id))
        positions = await self.quotas.positions_for_approval(case.village_code, on.year, people)
        # what this approval uses of the quota, whatever the household becomes later
        case.people_counted = people
        return [p for p in positions if p.exceeded]

    def _quota_overridden(
        self, over: list[QuotaPosition], body: ApprovalCreate, caller: Caller
    ) -> bool:
        if not over or not body.quota_override_reason:
            return False
        if not set(self.settings.quota_override_roles) & caller.roles:
            raise Forbidden("approving beyond the quota needs the quota_override role")
        return True

    async def _run(
        self,
        case: Case,
        command: Command,
        caller: Caller,
        evidence: Evidence,
        extra: dict[str, Any],
    ) -> Transition:
        self._check_tier(case, caller)
        transition = self._decide(case, command)
        await self._apply(case, transition, caller, command.on, evidence, extra)
        return transition

    async def _apply(
        self,
        case: Case,
        transition: Transition,
        caller: Caller,
        on: date,
        evidence: Evidence,
        extra: dict[str, Any],
    ) -> None:
        from_state = case.state
        after = transition.case
        case.state = after.state
        case.suspended = after.suspended
        case.last_step_on = after.last_step_on
        case.notice_started_on = after.notice_started_on
        case.notice_ends_on = after.notice_ends_on
        if transition.rejection_reason:
            case.rejection_reason = transition.rejection_reason
        case.version += 1
        await self.session.flush()
        await self._step(
            case,
            transition.step,
            from_state,
            caller,
            on,
            evidence,
            {**transition.evidence, **extra},
        )
        if transition.household_status is not None:
            household = await self._household(case)
            await self.households.change_status(
                household,
                transition.household_status,
                actor=caller.actor,
                effective_on=on,
                # A code, not the case's words: events leave the register (officers' text may
                # name people, and stays on the case).
                reason=f"{case.kind}_{'rejected' if transition.rejection_reason else 'approved'}",
                case_id=str(case.id),
            )
            if transition.household_status in CLOSED_STATUSES:
                reason = f"closed with the household ({transition.household_status})"
                closed = await self.rules.dismiss_open_flags(household.id, reason, caller.actor)
                await add_events(
                    self.session,
                    [flag_resolved(flag, "dismissed", HOUSEHOLD_CLOSED) for flag in closed],
                )

    async def _step(
        self,
        case: Case,
        step: str,
        from_state: str | None,
        caller: Caller,
        on: date,
        evidence: Evidence,
        facts: dict[str, Any],
    ) -> None:
        recorded = {**evidence.model_dump(exclude_none=True), **facts}
        await self.cases.add_step(
            CaseStep(
                case_id=case.id,
                step=step,
                from_state=from_state,
                to_state=case.state,
                actor=caller.actor,
                effective_on=on,
                evidence=recorded,
            )
        )

    async def _refuse_before_head_birth(self, case: Case, on: date) -> None:
        """The approval is the household's registration date (登记日期), which cannot precede
        its head's birth (the import refuses such a date too)."""
        members = await self.households.households.members(case.household_id)
        head = next((m for m in members if m.relation == "head"), None)
        if head is not None and on < head.birth_date:
            # The birth date is not named: beside a masked ID number it would give digits away.
            raise Unprocessable(
                "#/body/on", "a household cannot be registered before its head's birth"
            )

    async def _household(self, case: Case) -> Household:
        household = await self.households.households.get(case.household_id, for_update=True)
        assert household is not None  # cases reference households by foreign key
        return household

    def _require_poverty_lines(self, exit_year: int, pointer: str | None = None) -> None:
        """Refuse, with a clear problem, an exit whose assessed years lack a configured line."""
        years = domain.exit_assessment_years(exit_year, self.settings.exit_stable_years)
        missing = domain.missing_poverty_lines(years, self.settings.poverty_lines)
        if missing:
            raise problem_for(
                domain.PovertyLineMissing(
                    "no poverty line is configured for "
                    + ", ".join(str(y) for y in missing)
                    + f", on which an exit in {exit_year} is assessed: add it to the"
                    " poverty_lines setting (REGISTRY_POVERTY_LINES)",
                    pointer=pointer,
                    years=missing,
                    setting="poverty_lines",
                )
            )

    async def _unmet_exit_criteria(self, case: Case, basic_needs: dict[str, bool]) -> list[str]:
        """The exit criteria for the case's year (the year of the exit), refused with a clear
        problem when a year assessed has no configured poverty line."""
        self._require_poverty_lines(case.year)
        household = await self._household(case)
        return domain.unmet_exit_criteria(
            await self._per_capita_by_year(household),
            self.settings.poverty_lines,
            basic_needs,
            exit_year=case.year,
            required_needs=self.settings.exit_basic_needs,
            stable_years=self.settings.exit_stable_years,
        )

    async def _appraised_needs(self, case: Case) -> dict[str, bool]:
        """The basic needs the village appraisal confirmed (recorded with its step)."""
        for recorded in reversed(await self.cases.steps(case.id)):
            if recorded.step == "appraised":
                return dict(recorded.evidence.get("basic_needs", {}))
        return {}

    async def _per_capita_by_year(self, household: Household) -> dict[int, Decimal]:
        """Each recorded year's net income over the members the household had at that year's
        end (departed members counted for the years they belonged)."""
        periods = await self.households.households.member_periods(household.id)
        by_year: dict[int, dict[str, Decimal]] = defaultdict(dict)
        for income in await self.households.households.incomes(household.id):
            by_year[income.year][income.source] = Decimal(income.amount)
        result = {}
        for year, amounts in by_year.items():
            value = per_capita_net_income(amounts, household_size_at_year_end(periods, year))
            if value is not None:
                result[year] = value
        return result


def _holds_number(value: Any) -> bool:
    """Whether a text (or None), or any text inside a step's evidence, holds a personal
    number."""
    if isinstance(value, str):
        return holds_personal_number(value)
    if isinstance(value, dict):
        return any(_holds_number(v) for v in value.values())
    if isinstance(value, list):
        return any(_holds_number(v) for v in value)
    return False


def _masked(value: Any) -> Any:
    """A text (or None), or a step's evidence, with its personal numbers masked."""
    if isinstance(value, str):
        return mask_personal_numbers(value)
    if isinstance(value, dict):
        return {k: _masked(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_masked(v) for v in value]
    return value


def _as_is(value: Any) -> Any:
    return value
