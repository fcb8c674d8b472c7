"""HTTP routes of the households domain (/v1/households)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime, time, timedelta
from enum import StrEnum
from typing import Annotated

from fastapi import APIRouter, Path, Query, Request, Response
from fastapi.responses import JSONResponse

from fupin_events.values import BUSINESS_TZ, Day, RegionPrefix, business_today
from fupin_kit.audit import AuditRecord, AuditTrail
from fupin_kit.auth import CallerDep
from fupin_kit.db import SessionDep
from fupin_kit.idempotency import IdempotencyKey, fingerprint, run_idempotent
from fupin_kit.pagination import Cursor, Limit, Page, decode_cursor, encode_cursor
from fupin_kit.problems import NotFound, Unprocessable, problem_responses
from fupin_registry.households.dependencies import (
    HouseholdDep,
    HouseholdForUpdateDep,
    HouseholdServiceDep,
    IfMatch,
    etag,
    require_if_match,
    set_answered_etag,
)
from fupin_registry.households.repository import (
    AccessLogRepository,
    HistoryRepository,
    HouseholdFilter,
    HouseholdRepository,
)
from fupin_registry.households.schemas import (
    AccessEntryRead,
    ChangeRead,
    HeadChange,
    HouseholdCreate,
    HouseholdRead,
    HouseholdSummary,
    HouseholdUpdate,
    IncomeWrite,
    MemberCreate,
    MemberUpdate,
    PlanWrite,
)
from fupin_registry.households.snapshot import origin_of, personal_fields, render
from fupin_registry.privacy import PrivacyDep, audit_unmasked_read
from fupin_registry.vocabulary import (
    HistoryBasis,
    HouseholdAttribute,
    HouseholdStatus,
    MemberDeparture,
    PovertyCause,
)

router = APIRouter(prefix="/v1/households", tags=["households"])
YearPath = Annotated[int, Path(ge=2000, le=2100)]
WRITE_ERRORS = problem_responses(401, 403, 404, 409, 412, 422, 428)
VERSION_ID_MAX = 2**31 - 1  # household_versions.id is an integer column


def _with_etag(read: HouseholdRead, response: Response) -> HouseholdRead:
    response.headers["ETag"] = etag(read.version)
    return read


@router.post(
    "",
    status_code=201,
    responses=problem_responses(401, 403, 409, 422),
    summary="Register a household (status applied) with members, incomes and plan",
)
async def create_household(
    body: HouseholdCreate,
    session: SessionDep,
    caller: CallerDep,
    service: HouseholdServiceDep,
    idempotency_key: IdempotencyKey = None,
) -> HouseholdRead:
    async def command() -> HouseholdRead:
        household = await service.create(body, caller)
        return await service.read(household, caller)

    response: JSONResponse = await run_idempotent(
        session,
        caller=caller.actor,
        key=idempotency_key,
        request_fingerprint=fingerprint(body, caller),
        command=command,
        headers={"ETag": etag(1)},
    )
    return response  # type: ignore[return-value]


def _any_of(values: Sequence[StrEnum] | None) -> tuple[str, ...]:
    """A repeated filter's distinct values (none given: no filter)."""
    return tuple(sorted({value.value for value in values or ()}))


@router.get(
    "", responses=problem_responses(401, 422), summary="Search households (no personal data)"
)
async def search_households(
    session: SessionDep,
    caller: CallerDep,
    region: Annotated[RegionPrefix | None, Query(description="region code prefix")] = None,
    status: Annotated[
        list[HouseholdStatus] | None, Query(description="any of these statuses (repeat it)")
    ] = None,
    attribute: Annotated[
        list[HouseholdAttribute] | None, Query(description="any of these attributes (repeat it)")
    ] = None,
    cause: Annotated[
        list[PovertyCause] | None,
        Query(description="any of these causes, primary or secondary (repeat it)"),
    ] = None,
    year: Annotated[int | None, Query(ge=2000, le=2100, description="identification year")] = None,
    has_open_flags: bool | None = None,
    cursor: Cursor = None,
    limit: Limit = 50,
) -> Page[HouseholdSummary]:
    after = decode_cursor(cursor, 1, (uuid.UUID,))
    after_id = after[0] if after else None
    rows = await HouseholdRepository(session).search(
        HouseholdFilter(
            region, _any_of(status), _any_of(attribute), _any_of(cause), year, has_open_flags
        ),
        caller,
        after=after_id,
        limit=limit + 1,
    )
    items = [
        HouseholdSummary(
            id=h.id,
            village_code=h.village_code,
            household_number=h.household_number,
            attribute=h.attribute,
            support_type=h.support_type,
            status=h.status,
            primary_cause=h.primary_cause,
            secondary_causes=h.secondary_causes,
            year=h.year,
            registered_on=h.registered_on,
            member_count=count,
        )
        for h, count in rows[:limit]
    ]
    next_cursor = encode_cursor([str(items[-1].id)]) if len(rows) > limit else None
    return Page[HouseholdSummary](items=items, next_cursor=next_cursor)


@router.get(
    "/{household_id}",
    responses=problem_responses(401, 404, 422),
    summary="Read a household, now or as of a past date (masked unless pii:read)",
)
async def read_household(
    household: HouseholdDep,
    session: SessionDep,
    caller: CallerDep,
    service: HouseholdServiceDep,
    privacy: PrivacyDep,
    response: Response,
    as_of: Annotated[Day | None, Query(description="business date (Asia/Shanghai)")] = None,
    basis: Annotated[
        HistoryBasis,
        Query(
            description=(
                "with `as_of`: `effective` (default), the household as in effect on that date"
                " (a step entered late counts from its own date); `recorded`, as the register"
                " stood at the end of that date"
            )
        ),
    ] = HistoryBasis.EFFECTIVE,
) -> HouseholdRead:
    if as_of is None:
        return _with_etag(await service.read(household, caller), response)
    if as_of > business_today():
        raise Unprocessable("#/query/as_of", "cannot be in the future")
    history = HistoryRepository(session)
    if basis == HistoryBasis.EFFECTIVE:
        version = await history.in_effect_on(household.id, as_of)
    else:
        end_of_day = datetime.combine(as_of + timedelta(days=1), time(0), tzinfo=BUSINESS_TZ)
        version = await history.as_of(household.id, end_of_day)
    if version is None:
        raise NotFound(f"the household was not in the register on {as_of}", pointer="#/query/as_of")
    await audit_unmasked_read(
        session, caller, "household", str(household.id), personal_fields(version.snapshot)
    )
    return render(
        version.snapshot,
        privacy,
        caller,
        village_name=service.regions.name_of(household.village_code),
        as_of=as_of,
        imported_from=origin_of(household),
    )


@router.patch("/{household_id}", responses=WRITE_ERRORS, summary="Update household fields")
async def update_household(
    household: HouseholdForUpdateDep,
    body: HouseholdUpdate,
    caller: CallerDep,
    service: HouseholdServiceDep,
    response: Response,
    if_match: IfMatch = None,
) -> HouseholdRead:
    require_if_match(if_match, household)
    await service.update(household, body, caller)
    return _with_etag(await service.read(household, caller), response)


@router.post(
    "/{household_id}/members", status_code=201, responses=WRITE_ERRORS, summary="Add a member"
)
async def add_member(
    household: HouseholdForUpdateDep,
    body: MemberCreate,
    caller: CallerDep,
    service: HouseholdServiceDep,
    response: Response,
    if_match: IfMatch = None,
) -> HouseholdRead:
    require_if_match(if_match, household)
    await service.add_member(household, body, caller)
    return _with_etag(await service.read(household, caller), response)


@router.patch(
    "/{household_id}/members/{member_id}", responses=WRITE_ERRORS, summary="Update a member"
)
async def update_member(
    household: HouseholdForUpdateDep,
    member_id: uuid.UUID,
    body: MemberUpdate,
    caller: CallerDep,
    service: HouseholdServiceDep,
    response: Response,
    if_match: IfMatch = None,
) -> HouseholdRead:
    require_if_match(if_match, household)
    member = await service.households.member(household.id, member_id)
    if member is None:
        raise NotFound("member not found")
    await service.update_member(household, member, body, caller)
    return _with_etag(await service.read(household, caller), response)


@router.delete(
    "/{household_id}/members/{member_id}",
    responses=WRITE_ERRORS,
    summary="A member leaves the household (death, migration, marriage, ...)",
)
async def remove_member(
    household: HouseholdForUpdateDep,
    member_id: uuid.UUID,
    reason: MemberDeparture,
    caller: CallerDep,
    service: HouseholdServiceDep,
    response: Response,
    on: Annotated[Day | None, Query(description="business date; defaults to today")] = None,
    if_match: IfMatch = None,
) -> HouseholdRead:
    require_if_match(if_match, household)
    member = await service.households.member(household.id, member_id)
    if member is None:
        raise NotFound("member not found")
    on = on or business_today()
    if on > business_today():
        raise Unprocessable("#/query/on", "cannot be in the future")
    await service.remove_member(household, member, reason, on, caller)
    return _with_etag(await service.read(household, caller), response)


@router.post(
    "/{household_id}/head",
    responses=WRITE_ERRORS,
    summary="Change the head (户主): another member takes the role, the former head stays "
    "with a new relation or leaves",
)
async def change_head(
    household: HouseholdForUpdateDep,
    body: HeadChange,
    session: SessionDep,
    caller: CallerDep,
    service: HouseholdServiceDep,
    if_match: IfMatch = None,
    idempotency_key: IdempotencyKey = None,
) -> HouseholdRead:
    on = body.on or business_today()
    if on > business_today():
        raise Unprocessable("#/body/on", "cannot be in the future")

    async def command() -> HouseholdRead:
        # inside the command, so that a replayed request is not refused as stale
        require_if_match(if_match, household)
        await service.change_head(household, body, on, caller)
        return await service.read(household, caller)

    response: JSONResponse = await run_idempotent(
        session,
        caller=caller.actor,
        key=idempotency_key,
        request_fingerprint=fingerprint({"household": str(household.id), "head": body}, caller),
        command=command,
        status_code=200,
    )
    set_answered_etag(response, household.version)
    return response  # type: ignore[return-value]


@router.put(
    "/{household_id}/incomes/{year}",
    responses=WRITE_ERRORS,
    summary="Set one year's incomes by source (replaces that year)",
)
async def set_incomes(
    household: HouseholdForUpdateDep,
    year: YearPath,
    body: IncomeWrite,
    caller: CallerDep,
    service: HouseholdServiceDep,
    response: Response,
    if_match: IfMatch = None,
) -> HouseholdRead:
    require_if_match(if_match, household)
    await service.set_incomes(household, year, body, caller)
    return _with_etag(await service.read(household, caller), response)


@router.put(
    "/{household_id}/plan/{year}",
    responses=WRITE_ERRORS,
    summary="Set one year's assistance plan (一户一策; replaces that year)",
)
async def set_plan(
    household: HouseholdForUpdateDep,
    year: YearPath,
    body: PlanWrite,
    caller: CallerDep,
    service: HouseholdServiceDep,
    response: Response,
    if_match: IfMatch = None,
) -> HouseholdRead:
    require_if_match(if_match, household)
    await service.set_plan(household, year, body.measures, caller)
    return _with_etag(await service.read(household, caller), response)


@router.get(
    "/{household_id}/changes",
    responses=problem_responses(401, 404, 422),
    summary="The household's change log, oldest first",
)
async def list_changes(
    household: HouseholdDep, session: SessionDep, cursor: Cursor = None, limit: Limit = 50
) -> Page[ChangeRead]:
    after = decode_cursor(cursor, 1, (int,))
    if after is not None and not 0 <= after[0] <= VERSION_ID_MAX:
        raise Unprocessable("#/query/cursor", "the cursor is not valid")
    rows = await HistoryRepository(session).changes(
        household.id, after=after[0] if after else None, limit=limit + 1
    )
    items = [
        ChangeRead(
            version=r.version,
            action=r.action,
            changed=r.changed,
            actor=r.actor,
            status=r.status,
            valid_from=r.valid_from,
            valid_to=r.valid_to,
        )
        for r in rows[:limit]
    ]
    next_cursor = encode_cursor([rows[limit - 1].id]) if len(rows) > limit else None
    return Page[ChangeRead](items=items, next_cursor=next_cursor)


ACCESS_LOG_READ = "audit.read_access_log"


@router.get(
    "/{household_id}/access-log",
    responses=problem_responses(401, 403, 404, 422),
    summary="Who read the household's personal data in clear and who checked its members'"
    " eligibility, newest first (auditors)",
)
async def list_access_log(
    household: HouseholdDep,
    session: SessionDep,
    caller: CallerDep,
    request: Request,
    cursor: Cursor = None,
    limit: Limit = 50,
) -> Page[AccessEntryRead]:
    caller.require_role(*request.app.state.settings.access_log_roles)
    before = decode_cursor(cursor, 2, [int, int])
    rows = await AccessLogRepository(session).entries(
        household.id, before=(before[0], before[1]) if before else None, limit=limit + 1
    )
    page = rows[:limit]
    # Reading the log tells who asked about these people: that read is itself recorded (after
    # the query, so a page never shows its own record).
    await AuditTrail(session).append(
        AuditRecord(
            caller.actor,
            ACCESS_LOG_READ,
            "household",
            str(household.id),
            {"entries": len(page), "cursor": cursor},
        )
    )
    next_cursor = encode_cursor([page[-1].seq, page[-1].position]) if len(rows) > limit else None
    return Page[AccessEntryRead](
        items=[AccessEntryRead.model_validate(entry, from_attributes=True) for entry in page],
        next_cursor=next_cursor,
    )
