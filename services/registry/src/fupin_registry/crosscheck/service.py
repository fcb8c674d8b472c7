"""Cross-department comparison: reference lists in, flags out, review, reports.

A partner agency uploads a CSV list (UTF-8 or GB18030) with an ID-number column and detail
columns. Each valid ID number is stored only as its blind index (HMAC; the clear number never
reaches the database); of the detail columns only those of the list kind's allow list are kept,
and of their values none that looks like a phone, account or ID number (``columns``). Members
are matched by blind index in SQL and every matched household in the uploader's jurisdiction
gets an open flag with a ``FlagRaised`` event. Reviewers confirm a flag — which opens a removal
case; for a death, the member leaves the household (reason death) and only a household left
without members gets a natural-decrease case — or dismiss it with a reason; both send
``FlagResolved``.
"""

from __future__ import annotations

import codecs
import csv
import io
import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, BinaryIO

from sqlalchemy.ext.asyncio import AsyncSession

from fupin_events.registry import FlagRaised
from fupin_events.values import business_today
from fupin_kit.auth import Caller
from fupin_kit.outbox import add_event, add_events
from fupin_kit.problems import Conflict, InvalidTransition, Unprocessable
from fupin_registry.access import require_writer
from fupin_registry.crosscheck.columns import DetailColumn, header_key, kept_columns, kept_value
from fupin_registry.crosscheck.events import flag_resolved
from fupin_registry.crosscheck.models import Flag, ReferenceList
from fupin_registry.crosscheck.repository import CrosscheckRepository
from fupin_registry.crosscheck.schemas import (
    DUPLICATE_FLAG_KIND,
    DUPLICATE_FLAG_SOURCE,
    FLAG_KIND,
    DibaoEntry,
    DibaoReport,
    FlagConfirm,
    FlagDismiss,
    HouseholdRef,
    ListKind,
    ReferenceListUploaded,
    RegisterDibaoHousehold,
    RowProblem,
)
from fupin_registry.households.models import Household
from fupin_registry.households.schemas import HeadChange
from fupin_registry.households.service import HouseholdService, refuse_before_birth
from fupin_registry.identification import domain as workflow
from fupin_registry.identification.models import Case, CaseStep
from fupin_registry.imports.readers import UnreadableFile, sniff
from fupin_registry.imports.rows import check_id_number
from fupin_registry.privacy import Privacy
from fupin_registry.vocabulary import HouseholdStatus, MemberDeparture

UPLOAD_SCOPE = "crosscheck:upload"
# Compared as the detail columns are (header_key): English names in any case.
ID_HEADERS = {
    header_key(h) for h in ("证件号码", "身份证号码", "身份证号", "公民身份号码", "id_number")
}
DIBAO_HOUSEHOLD_HEADERS = {
    header_key(h) for h in ("低保户编号", "户编号", "household_ref", "低保证号")
}
DIBAO_VILLAGE_HEADERS = {
    header_key(h) for h in ("行政区划代码(村)", "行政区划代码", "village_code")
}
MAX_PROBLEMS = 100
HEADER_SEARCH_ROWS = 10
COPY_BATCH = 10_000
LINE_BLOCK_BYTES = 64 * 1024


class UndecodableLine(ValueError):
    """A line of the file is not text in the file's encoding; names the line and the byte."""


def _raw_lines(handle: BinaryIO) -> Iterator[bytes]:
    """The file's lines with their endings, split at LF, CR LF or a bare CR as a text file
    with universal newlines is (a spreadsheet saved on an old Mac ends lines with CR alone).
    Neither byte occurs inside a UTF-8 or GB18030 character, so splitting before decoding is
    safe."""
    pending: list[bytes] = []  # the last line read so far: it may go on in a later block
    while block := handle.read(LINE_BLOCK_BYTES):
        if b"\n" not in block and b"\r" not in block:
            pending.append(block)
            continue
        pieces = b"".join([*pending, block]).splitlines(keepends=True)
        # The last piece may go on in the next block (so may a CR before its LF).
        pending = [pieces.pop()]
        yield from pieces
    yield from b"".join(pending).splitlines(keepends=True)


def _lines(path: Path, encoding: str) -> Iterator[str]:
    """The file's lines, each decoded on its own: an undecodable byte is reported on the line
    that holds it (a decoder reading ahead in blocks would fail lines before the reader)."""
    codec = encoding.removesuffix("-sig")
    with path.open("rb") as handle:
        for number, raw in enumerate(_raw_lines(handle), start=1):
            if number == 1 and encoding == "utf-8-sig":
                raw = raw.removeprefix(codecs.BOM_UTF8)
            try:
                yield raw.decode(codec)
            except UnicodeDecodeError as exc:
                raise UndecodableLine(
                    f"line {number} is not valid {codec.upper()} text"
                    f" (byte 0x{raw[exc.start]:02X} at position {exc.start + 1})"
                ) from exc


def _detail(cells: list[str], columns: list[tuple[int, DetailColumn]]) -> dict[str, str | None]:
    """The row's allowed, non-empty values that pass the content check, by standard name."""
    detail: dict[str, str | None] = {}
    for position, column in columns:
        value = cells[position].strip() if position < len(cells) else ""
        if value and kept_value(column, value):
            detail[column.name] = value
    return detail


class CrosscheckService:
    def __init__(
        self, session: AsyncSession, privacy: Privacy, households: HouseholdService
    ) -> None:
        self.session = session
        self.privacy = privacy
        self.repository = CrosscheckRepository(session)
        self.households = households

    # --- reference lists ------------------------------------------------------------------

    async def upload(
        self, path: Path, kind: ListKind, agency: str, caller: Caller
    ) -> ReferenceListUploaded:
        caller.require_scope(UPLOAD_SCOPE)
        try:
            facts = sniff(path)
        except UnreadableFile as exc:
            raise Unprocessable("#/body/file", str(exc)) from exc
        if facts.kind != "csv":
            raise Unprocessable("#/body/file", "reference lists are CSV files (UTF-8 or GB18030)")
        reference_list = ReferenceList(
            id=uuid.uuid4(),
            kind=kind,
            agency=agency,
            uploaded_by=caller.actor,
            jurisdiction=caller.jurisdiction,
            row_count=0,
            match_count=0,
        )
        await self.repository.add_list(reference_list)
        stored, problems, rejected = await self._store_entries(
            path, facts.encoding or "utf-8-sig", reference_list.id, kind, caller.jurisdiction
        )
        flags = 0
        if kind in FLAG_KIND:
            flags = await self._raise_flags(reference_list.id, FLAG_KIND[kind], caller.jurisdiction)
        await self.repository.set_counts(reference_list.id, stored, flags)
        await self.session.refresh(reference_list)
        return ReferenceListUploaded.model_validate(
            {**_attrs(reference_list), "rejected_rows": rejected, "problems": problems}
        )

    async def _store_entries(
        self, path: Path, encoding: str, list_id: uuid.UUID, kind: ListKind, jurisdiction: str
    ) -> tuple[int, list[RowProblem], int]:
        # Strict: a quote left open would otherwise take every line after it into one cell,
        # and the people on those lines would be lost without a word.
        reader = csv.reader(_lines(path, encoding), strict=True)
        header: list[str] = []
        id_column = None
        try:
            # The header is the first row naming an ID-number column: a title or a date line
            # above it (as counties' sheets often have) is passed over.
            for _ in range(HEADER_SEARCH_ROWS):
                row = next(reader, None)
                if row is None:
                    break
                names = [header_key(h) for h in row]
                id_column = next((i for i, n in enumerate(names) if n in ID_HEADERS), None)
                if id_column is not None:
                    header = row
                    break
        except UndecodableLine as exc:
            raise Unprocessable("#/body/file", f"the file cannot be read: {exc}") from exc
        except csv.Error as exc:
            raise Unprocessable("#/body/file", f"the file cannot be read: {exc}") from exc
        if reader.line_num == 0:
            raise Unprocessable("#/body/file", "the file is empty")
        if id_column is None:
            raise Unprocessable(
                "#/body/file",
                f"no ID-number column in the first {HEADER_SEARCH_ROWS} rows: name it 证件号码"
                " (or 身份证号码, id_number)",
            )
        detail_columns = [(i, c) for i, c in kept_columns(kind, header) if i != id_column]
        household_column = next(
            (i for i, n in enumerate(names) if n in DIBAO_HOUSEHOLD_HEADERS), None
        )
        village_column = next((i for i, n in enumerate(names) if n in DIBAO_VILLAGE_HEADERS), None)
        problems: list[RowProblem] = []
        rejected = stored = 0
        batch: list[tuple[bytes, str]] = []
        today = business_today()
        try:
            for row_number, cells in enumerate(reader, start=reader.line_num + 1):
                if not any(c.strip() for c in cells):
                    continue
                value = cells[id_column].strip().upper() if id_column < len(cells) else ""
                reason = check_id_number(value, today) if value else "the ID number is empty"
                if reason:
                    rejected += 1
                    if len(problems) < MAX_PROBLEMS:
                        problems.append(RowProblem(row=row_number, reason=reason))
                    continue
                detail = _detail(cells, detail_columns)
                if kind == ListKind.DIBAO:
                    if household_column is not None and household_column < len(cells):
                        detail["household_ref"] = cells[household_column].strip() or None
                    if village_column is not None and village_column < len(cells):
                        village = cells[village_column].strip()
                        reason = self._village_problem(village, jurisdiction) if village else None
                        if reason:
                            rejected += 1
                            if len(problems) < MAX_PROBLEMS:
                                problems.append(RowProblem(row=row_number, reason=reason))
                            continue
                        detail["village_code"] = village or None
                batch.append((self.privacy.index.of(value), json.dumps(detail, ensure_ascii=False)))
                if len(batch) >= COPY_BATCH:
                    await self.repository.add_entries(list_id, batch)
                    stored += len(batch)
                    batch = []
        except UndecodableLine as exc:
            raise Unprocessable("#/body/file", f"the file cannot be read: {exc}") from exc
        except csv.Error as exc:
            raise Unprocessable(
                "#/body/file", f"the file cannot be read at line {reader.line_num}: {exc}"
            ) from exc
        await self.repository.add_entries(list_id, batch)
        return stored + len(batch), problems, rejected

    def _village_problem(self, code: str, jurisdiction: str) -> str | None:
        """Why a dibao entry's village code cannot place it (None when it can)."""
        if not (len(code) == 12 and code.isascii() and code.isdigit()):
            return "the village code (行政区划代码) is not 12 digits"
        if not self.households.regions.is_village(code):
            return "the village code (行政区划代码) is not a village of the region table"
        if not code.startswith(jurisdiction):
            return "the village lies outside the uploader's jurisdiction"
        return None

    async def flag_duplicates(self, caller: Caller) -> int:
        """Raise a ``duplicate_id`` flag on every live household of the caller's jurisdiction
        holding a person who is also on another live household's member list."""
        require_writer(caller)
        raised = await self.repository.drop_flags_on_closed(
            await self.repository.flag_duplicates(
                DUPLICATE_FLAG_KIND, DUPLICATE_FLAG_SOURCE, caller.jurisdiction
            )
        )
        await self._announce(raised, DUPLICATE_FLAG_KIND, DUPLICATE_FLAG_SOURCE)
        return len(raised)

    async def _raise_flags(self, list_id: uuid.UUID, flag_kind: str, jurisdiction: str) -> int:
        raised = await self.repository.drop_flags_on_closed(
            await self.repository.match(list_id, flag_kind, jurisdiction)
        )
        await self._announce(raised, flag_kind, str(list_id))
        return len(raised)

    async def _announce(self, raised: list[Any], flag_kind: str, source: str) -> None:
        await add_events(
            self.session,
            [
                (
                    FlagRaised(
                        flag_id=str(r.id),
                        household_id=str(r.household_id),
                        village_code=r.village_code,
                        kind=flag_kind,
                        source=source,
                    ),
                    str(r.household_id),
                )
                for r in raised
            ],
        )

    # --- review ---------------------------------------------------------------------------

    async def confirm(self, flag: Flag, body: FlagConfirm, caller: Caller) -> Flag:
        require_writer(caller)
        self._require_open(flag)
        household = await self.session.get(Household, flag.household_id, with_for_update=True)
        assert household is not None
        on = business_today()
        if flag.kind != "death":
            for name in ("died_on", "new_head_member_id"):
                if getattr(body, name) is not None:
                    raise Unprocessable(f"#/body/{name}", "only when confirming a death flag")
        if flag.kind == "death":
            if body.died_on is not None and body.died_on > on:
                raise Unprocessable("#/body/died_on", "cannot be in the future")
            if await self._record_death(household, flag, body, caller):
                return await self._resolve(flag, "confirmed", body.reason, caller, None)
            kind = workflow.CaseKind.NATURAL_DECREASE
        elif flag.kind == DUPLICATE_FLAG_KIND:
            # The household is not wrong, its member list is: the person is corrected on the
            # list (a member leaves one household), not removed with the household.
            return await self._resolve(flag, "confirmed", body.reason, caller, None)
        else:
            kind = workflow.CaseKind.REMOVAL
            if household.status == HouseholdStatus.APPLIED:
                # Not registered yet: nothing to remove. The confirmed flag stays in force, so
                # its exclusion rule blocks (or warns at) the county approval.
                return await self._resolve(flag, "confirmed", body.reason, caller, None)
        try:
            view = workflow.open_case(kind, household.status, on)
        except workflow.WorkflowError as error:
            raise InvalidTransition(f"cannot open a {kind} case: {error.detail}") from error
        open_case = await self.session.scalar(
            Case.__table__.select()
            .with_only_columns(Case.id)
            .where(Case.household_id == household.id, Case.state.notin_(("approved", "rejected")))
        )
        if open_case is not None:
            raise Conflict(
                f"the household already has an open case {open_case};"
                " finish it before confirming this flag"
            )
        reason = f"cross-department check: {flag.kind} (list {flag.source})"
        if body.reason:
            reason += f": {body.reason}"
        evidence = {"flag_id": str(flag.id), "reference_list": flag.source}
        if kind == workflow.CaseKind.NATURAL_DECREASE:
            died_on = body.died_on or on
            reason = f"death on {died_on}: {reason}"
            evidence["died_on"] = died_on.isoformat()
        case = Case(
            id=uuid.uuid4(),
            kind=kind,
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
        self.session.add(case)
        await self.session.flush()
        self.session.add(
            CaseStep(
                case_id=case.id,
                step="applied",
                from_state=None,
                to_state=case.state,
                actor=caller.actor,
                effective_on=on,
                evidence=evidence,
            )
        )
        return await self._resolve(flag, "confirmed", body.reason, caller, case.id)

    async def _record_death(
        self, household: Household, flag: Flag, body: FlagConfirm, caller: Caller
    ) -> bool:
        """The deceased leaves the household (reason death); a deceased head hands the role to
        ``new_head_member_id``. False when no other member would remain: the household itself
        then closes through a natural-decrease case."""
        service = self.households
        members = await service.households.members(household.id)
        deceased = next((m for m in members if m.id == flag.member_id), None)
        if deceased is None:
            raise Conflict("the member named by the flag is no longer in the household")
        died_on = body.died_on or business_today()
        refuse_before_birth(deceased, died_on, "#/body/died_on")
        if deceased.relation != "head" and body.new_head_member_id is not None:
            raise Unprocessable(
                "#/body/new_head_member_id", "only when the deceased was the head of the household"
            )
        if len(members) == 1:
            return False
        if deceased.relation != "head":
            await service.remove_member(
                household, deceased, "death", died_on, caller, "#/body/died_on"
            )
            return True
        if body.new_head_member_id not in {m.id for m in members if m.id != deceased.id}:
            raise Unprocessable(
                "#/body/new_head_member_id",
                "the deceased was the head: name another current member as the new head",
            )
        change = HeadChange(
            member_id=body.new_head_member_id,
            former_head_departure=MemberDeparture.DEATH,
            on=died_on,
        )
        await service.change_head(household, change, died_on, caller, "#/body/died_on")
        return True

    async def dismiss(self, flag: Flag, body: FlagDismiss, caller: Caller) -> Flag:
        require_writer(caller)
        self._require_open(flag)
        return await self._resolve(flag, "dismissed", body.reason, caller, None)

    @staticmethod
    def _require_open(flag: Flag) -> None:
        if flag.status != "open":
            raise InvalidTransition(f"the flag is already {flag.status}")

    async def _resolve(
        self,
        flag: Flag,
        outcome: str,
        reason: str | None,
        caller: Caller,
        case_id: uuid.UUID | None,
    ) -> Flag:
        flag.status = outcome
        flag.resolution_reason = reason
        flag.resolved_by = caller.actor
        flag.resolved_at = datetime.now(UTC)
        flag.follow_up_case_id = case_id
        await self.session.flush()
        event, subject = flag_resolved(flag, outcome)
        await add_event(self.session, event, subject=subject)
        return flag

    # --- reports --------------------------------------------------------------------------

    async def dibao_report(
        self, reference_list: ReferenceList, caller: Caller, limit: int
    ) -> DibaoReport:
        missing: list[DibaoEntry] = []
        mismatched: list[DibaoEntry] = []
        elsewhere = 0
        truncated = False
        # The part of the caller's jurisdiction the list covers (one holds the other; the
        # router refuses a list of a region apart from it).
        region = max(caller.jurisdiction, reference_list.jurisdiction, key=len)
        # An entry without a village code lies somewhere in the list's own region: it is shown
        # when that whole region is compared, never to a region inside it.
        rows = await self.repository.dibao_people(
            reference_list.id, region, unplaced=reference_list.jurisdiction.startswith(region)
        )
        for row in rows:
            if not row.registered and row.registered_elsewhere:
                elsewhere += 1  # registered outside the region compared: not this region's case
                continue
            entry = DibaoEntry(
                household_ref=row.household_ref,
                village_code=row.village_code,
                people=row.people,
                register_households=[HouseholdRef(**h) for h in row.households],
            )
            target = (
                mismatched
                if row.registered and not row.as_dibao
                else missing
                if not row.registered
                else None
            )
            if target is None:
                continue
            if len(target) >= limit:
                truncated = True
                continue
            target.append(entry)
        register = await self.repository.register_dibao_missing(
            reference_list.id, region, limit + 1
        )
        if len(register) > limit:
            truncated, register = True, register[:limit]
        return DibaoReport(
            list_id=reference_list.id,
            region=region,
            missing_from_register=missing,
            registered_without_dibao_attribute=mismatched,
            registered_outside_region=elsewhere,
            missing_from_dibao_list=[RegisterDibaoHousehold(**r._mapping) for r in register],
            truncated=truncated,
        )


def _attrs(obj: Any) -> dict[str, Any]:
    return {c.key: getattr(obj, c.key) for c in obj.__table__.columns}


__all__ = ["CrosscheckService", "UPLOAD_SCOPE", "io"]
