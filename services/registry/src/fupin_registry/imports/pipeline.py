"""The CPU side of an import: read → validate → group into households → encrypt → COPY text.

:func:`produce` turns a file into :class:`PreparedChunk` objects: whole households only (a
household never straddles two chunks), personal fields already encrypted and blind-indexed,
rows already in PostgreSQL's COPY text format for the staging tables. It is pure computation
over the file, so it runs in a separate process (``import_workers`` ≥ 1) while the API
process merges the previous chunk, or in a thread (``import_workers = 0``).
"""

from __future__ import annotations

import base64
import hmac
import multiprocessing
import os
import queue as queue_module
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import orjson

from fupin_kit.crypto import parse_keyring
from fupin_registry.imports.columns import HEADERS, HeaderError, HeaderMap
from fupin_registry.imports.readers import FileFacts, RawRow, UnreadableFile, merged_ref, open_sheet
from fupin_registry.imports.rows import (
    Checked,
    Household,
    RowDicts,
    RowError,
    Rules,
    assemble,
    check_rows,
    household_errors,
    rejected_with_household,
)

VALIDATION_BATCH = 2_000

HOUSEHOLD_COPY_COLUMNS = (
    "job_id",
    "chunk",
    "household_id",
    "first_row",
    "last_row",
    "member_count",
    "village_code",
    "household_number",
    "attribute",
    "support_type",
    "primary_cause",
    "secondary_causes",
    "identification_standard",
    "status",
    "year",
    "registered_on",
    "exited_on",
    "phone_enc",
    "bank_account_enc",
    "housing_safety",
    "drinking_water_safe",
    "income_year",
    "wages",
    "production",
    "property",
    "transfer",
    "production_costs",
    "snapshot",
    "event_id",
    "event",
)
MEMBER_COPY_COLUMNS = (
    "job_id",
    "chunk",
    "household_id",
    "member_id",
    "row_number",
    "id_index",
    "id_number_enc",
    "name_enc",
    "sex",
    "birth_date",
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


@dataclass(frozen=True)
class ProducerConfig:
    job_id: str
    path: str
    facts: FileFacts
    rules: Rules
    chunk_rows: int
    calamine_max_bytes: int
    pii_keys: str
    blind_index_key: str


@dataclass
class Opened:
    """The header was found and mapped."""

    header_row: int
    ignored_columns: list[str]
    merged: list[str]


@dataclass
class PreparedChunk:
    number: int
    households_copy: bytes
    members_copy: bytes
    household_rows: dict[str, list[int]]  # staged household id → its row numbers
    errors: list[RowError]
    rows_read: int
    rows_valid: int
    rows_rejected: int
    rows_empty: int


@dataclass
class Finished:
    notes: list[str] = field(default_factory=list)


@dataclass
class Failed:
    reason: str


Item = Opened | PreparedChunk | Finished | Failed


class Sealer:
    """Field encryption and blind indexes for many values at a time.

    Produces exactly what ``fupin_kit.crypto.FieldCipher.encrypt`` and ``BlindIndex.of``
    produce (the layout is documented there; a test decrypts with ``Privacy``), without the
    per-call overhead of the general helpers.
    """

    def __init__(self, pii_keys: str, blind_index_key: str) -> None:
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM

        ring = parse_keyring(pii_keys)
        active = next(iter(ring))
        self._aead = AESGCM(ring[active])
        self._prefix = bytes([len(active)]) + active.encode()
        self._index_key = base64.b64decode(blind_index_key)

    def seal(self, value: str, field_name: bytes) -> bytes:
        nonce = os.urandom(12)
        return self._prefix + nonce + self._aead.encrypt(nonce, value.encode(), field_name)

    def index(self, id_number: str) -> bytes:
        return hmac.digest(self._index_key, id_number.encode(), "sha256")


def _text(value: str) -> str:
    """A text value in COPY text format (validation leaves no control characters)."""
    return value.replace("\\", "\\\\") if "\\" in value else value


def _bytea(value: bytes | None) -> str:
    return "\\N" if value is None else "\\\\x" + value.hex()


def _opt(value: Any) -> str:
    return "\\N" if value is None else str(value)


def _bool(value: bool) -> str:
    return "t" if value else "f"


def _b64(value: bytes | None) -> str | None:
    return None if value is None else base64.b64encode(value).decode()


def _json(value: dict[str, Any]) -> str:
    """A JSON document as a COPY text field (JSON escapes hold backslashes)."""
    return orjson.dumps(value).decode().replace("\\", "\\\\")


def _new_id() -> str:
    """A random (version 4) UUID as text, without the cost of ``uuid.UUID`` objects."""
    raw = bytearray(os.urandom(16))
    raw[6] = (raw[6] & 0x0F) | 0x40
    raw[8] = (raw[8] & 0x3F) | 0x80
    h = raw.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


@dataclass(frozen=True)
class EventSpec:
    """The envelope attributes of ``HouseholdRegistered``, from the shared event catalog."""

    source: str
    type: str
    dataschema: str | None

    @classmethod
    def registered(cls) -> EventSpec:
        from fupin_events.catalog import spec_for_model
        from fupin_events.registry import HouseholdRegistered

        spec = spec_for_model(HouseholdRegistered)
        return cls(f"/fupin/{spec.producer}", spec.type, spec.dataschema)


def to_copy(
    households: list[Household],
    job_id: str,
    chunk: int,
    sealer: Sealer,
    today: date,
    events: EventSpec,
) -> tuple[bytes, bytes, dict[str, list[int]]]:
    """COPY text for the staging tables, with each household's history snapshot and event.

    The snapshot has the keys of ``households.snapshot.snapshot_of`` and the event is the
    envelope ``fupin_events.envelope.new_event`` makes (both checked by tests); building them
    here keeps that work out of the database's merge.
    """
    prefix = f"{job_id}\t{chunk}\t"
    household_lines: list[str] = []
    member_lines: list[str] = []
    rows: dict[str, list[int]] = {}
    seal, index = sealer.seal, sealer.index
    event_time = datetime.now(UTC).isoformat().replace("+00:00", "Z")
    for h in households:
        household_id = _new_id()
        rows[household_id] = [m.row for m in h.members]
        registered_on = h.registered_on or today  # every imported status is a registered one
        phone = seal(h.phone, b"phone") if h.phone else None
        bank_account = seal(h.bank_account, b"bank_account") if h.bank_account else None
        people = []
        for m in h.members:
            member_id = _new_id()  # text order = byte order = PostgreSQL's uuid order
            people.append(
                (
                    (m.relation != "head", m.birth_date, member_id),
                    m,
                    member_id,
                    index(m.id_number),
                    seal(m.id_number, b"id_number"),
                    seal(m.name, b"name"),
                )
            )
        people.sort(key=lambda p: p[0])  # the order HouseholdRepository.members reads them
        snapshot_members = []
        household_prefix = prefix + household_id + "\t"
        for _, m, member_id, id_index, id_number_enc, name_enc in people:
            birth_date = m.birth_date.isoformat()
            snapshot_members.append(
                {
                    "sex": m.sex,
                    "relation": m.relation,
                    "ethnicity": m.ethnicity,
                    "education": m.education,
                    "school_status": m.school_status,
                    "health": m.health,
                    "disability": m.disability,
                    "labour_ability": m.labour_ability,
                    "migrant_months": m.migrant_months,
                    "medical_insurance": m.medical_insurance,
                    "pension_insurance": m.pension_insurance,
                    "id": member_id,
                    "id_index": id_index.hex(),
                    "id_number_enc": _b64(id_number_enc),
                    "name_enc": _b64(name_enc),
                    "birth_date": birth_date,
                }
            )
            member_lines.append(
                household_prefix
                + "\t".join(
                    (
                        member_id,
                        str(m.row),
                        "\\\\x" + id_index.hex(),
                        "\\\\x" + id_number_enc.hex(),
                        "\\\\x" + name_enc.hex(),
                        m.sex,
                        birth_date,
                        m.relation,
                        m.ethnicity,
                        _opt(m.education),
                        _opt(m.school_status),
                        m.health,
                        "\\N" if m.disability is None else _text(m.disability),
                        m.labour_ability,
                        str(m.migrant_months),
                        _bool(m.medical_insurance),
                        _bool(m.pension_insurance),
                    )
                )
            )
        incomes = h.incomes
        snapshot = {
            "village_code": h.village_code,
            "household_number": h.household_number,
            "attribute": h.attribute,
            "support_type": h.support_type,
            "primary_cause": h.primary_cause,
            "secondary_causes": h.secondary_causes,
            "identification_standard": h.identification_standard,
            "housing_safety": h.housing_safety,
            "drinking_water_safe": h.drinking_water_safe,
            "status": h.status,
            "year": h.year,
            "responsible_cadre_id": None,
            "responsible_cadre_name": None,
            "version": 1,
            "id": household_id,
            "phone_enc": _b64(phone),
            "bank_account_enc": _b64(bank_account),
            "registered_on": registered_on.isoformat(),
            "exited_on": h.exited_on.isoformat() if h.exited_on else None,
            "cadre_paired_on": None,
            "members": snapshot_members,
            "incomes": [
                {"year": h.income_year, "source": source, "amount": format(amount, ".2f")}
                for source, amount in sorted(incomes.items())
            ],
            "measures": [],
        }
        event_id = _new_id()
        event = {
            "specversion": "1.0",
            "id": event_id,
            "source": events.source,
            "type": events.type,
            "subject": household_id,
            "time": event_time,
            "datacontenttype": "application/json",
            "dataschema": events.dataschema,
            "data": {
                "household_id": household_id,
                "village_code": h.village_code,
                "household_number": h.household_number,
                "attribute": h.attribute,
                "support_type": h.support_type,
                "primary_cause": h.primary_cause,
                "status": h.status,
                "member_count": len(snapshot_members),
                "member_indexes": [m["id_index"] for m in snapshot_members],
                "registered_on": registered_on.isoformat(),
                "year": h.year,
            },
        }
        household_lines.append(
            "\t".join(
                (
                    prefix + household_id,
                    str(h.members[0].row),
                    str(h.members[-1].row),
                    str(len(h.members)),
                    h.village_code,
                    _text(h.household_number),
                    h.attribute,
                    h.support_type,
                    h.primary_cause,
                    "{" + ",".join(h.secondary_causes) + "}",
                    h.identification_standard,
                    h.status,
                    str(h.year),
                    registered_on.isoformat(),
                    _opt(h.exited_on),
                    _bytea(phone),
                    _bytea(bank_account),
                    h.housing_safety,
                    _bool(h.drinking_water_safe),
                    str(h.income_year),
                    _opt(incomes.get("wages")),
                    _opt(incomes.get("production")),
                    _opt(incomes.get("property")),
                    _opt(incomes.get("transfer")),
                    _opt(incomes.get("production_costs")),
                    _json(snapshot),
                    event_id,
                    _json(event),
                )
            )
        )
    households_copy = ("\n".join(household_lines) + "\n").encode() if household_lines else b""
    members_copy = ("\n".join(member_lines) + "\n").encode() if member_lines else b""
    return households_copy, members_copy, rows


class _Chunker:
    """Groups validated rows into households and households into chunks."""

    def __init__(self, config: ProducerConfig) -> None:
        self.config = config
        self.sealer = Sealer(config.pii_keys, config.blind_index_key)
        self.events = EventSpec.registered()
        self.seen: set[int] = set()  # hashes of finished household keys (contiguity check)
        self.group: list[Checked] = []
        self.households: list[Household] = []
        self.staged_rows = 0
        self.errors: list[RowError] = []
        self.rows_read = self.rows_valid = self.rows_rejected = self.rows_empty = 0
        self.number = 0

    def add(self, row: Checked) -> None:
        self.rows_read += 1
        if self.group and (row.key != self.group[0].key or not all(row.key)):
            self.finish_group()
        self.group.append(row)

    def finish_group(self) -> None:
        rows, self.group = self.group, []
        if not rows:
            return
        errors = [e for r in rows for e in r.errors]
        key = rows[0].key
        if all(key):
            digest = hash(key)
            if digest in self.seen:
                errors.append(
                    RowError(
                        rows[0].row,
                        "户编号",
                        key[1],
                        f"household {key[0]}/{key[1]} appeared earlier in the file; the rows of one"
                        " household must be next to each other",
                    )
                )
            self.seen.add(digest)
        if not errors:
            errors = household_errors(rows, self.config.rules.max_members)
        if errors:
            bad = {e.row for e in errors}
            self.errors.extend(errors)
            self.errors.extend(rejected_with_household(rows, bad))
            self.rows_rejected += len(rows)
            return
        self.households.append(assemble(rows))
        self.rows_valid += len(rows)
        self.staged_rows += len(rows)

    def full(self) -> bool:
        return self.staged_rows + len(self.errors) >= self.config.chunk_rows

    def emit(self) -> PreparedChunk:
        self.number += 1
        households_copy, members_copy, rows = to_copy(
            self.households,
            self.config.job_id,
            self.number,
            self.sealer,
            self.config.rules.today,
            self.events,
        )
        chunk = PreparedChunk(
            number=self.number,
            households_copy=households_copy,
            members_copy=members_copy,
            household_rows=rows,
            errors=self.errors,
            rows_read=self.rows_read,
            rows_valid=self.rows_valid,
            rows_rejected=self.rows_rejected,
            rows_empty=self.rows_empty,
        )
        self.households, self.errors, self.staged_rows = [], [], 0
        self.rows_read = self.rows_valid = self.rows_rejected = self.rows_empty = 0
        return chunk


def produce(config: ProducerConfig) -> Iterator[Item]:
    """The whole file as chunks; the first item is :class:`Opened`, the last :class:`Finished`."""
    try:
        sheet = open_sheet(Path(config.path), config.facts, config.calamine_max_bytes)
    except (HeaderError, UnreadableFile) as exc:
        yield Failed(str(exc))
        return
    headers: HeaderMap = sheet.headers
    merged_fields = _merged_by_row(sheet.merged, sheet.header_row)
    yield Opened(sheet.header_row, list(headers.ignored), [merged_ref(m) for m in sheet.merged])
    chunker = _Chunker(config)
    to_dicts = RowDicts(headers)
    batch: list[RawRow] = []

    def validate(batch: list[RawRow]) -> Iterator[PreparedChunk]:
        checked = check_rows(to_dicts(batch), config.rules)
        for row in checked:
            if row.row in merged_fields:
                row.errors.append(
                    RowError(
                        row.row,
                        "",
                        "",
                        f"the row lies in merged cells {merged_fields[row.row]};"
                        " unmerge them and repeat the value on every row",
                    )
                )
            chunker.add(row)
            if chunker.full():
                yield chunker.emit()

    try:
        for raw in sheet:
            if not any(raw.cells):
                chunker.rows_empty += 1
                continue
            batch.append(raw)
            if len(batch) >= VALIDATION_BATCH:
                yield from validate(batch)
                batch = []
        if batch:
            yield from validate(batch)
        chunker.finish_group()
        if chunker.households or chunker.errors or chunker.rows_read or chunker.rows_empty:
            yield chunker.emit()
    except UnreadableFile as exc:
        yield Failed(str(exc))
        return
    yield Finished(list(config.facts.notes))


def _merged_by_row(merged: list[tuple[int, int, int, int]], header_row: int) -> dict[int, str]:
    rows: dict[int, str] = {}
    for area in merged:
        first_row, _, last_row, _ = area
        for number in range(max(first_row, header_row + 1), last_row + 1):
            rows.setdefault(number, merged_ref(area))
    return rows


# --- running the producer in another process --------------------------------------------------


def _child(config: ProducerConfig, out: Any) -> None:
    try:
        for item in produce(config):
            out.put(item)
    except Exception as exc:  # reported to the job, never lost
        out.put(Failed(f"the file could not be processed: {type(exc).__name__}: {exc}"))
    out.put(None)


class ProducerProcess:
    """``produce`` in a child process, at most ``depth`` chunks ahead of the merge."""

    def __init__(self, config: ProducerConfig, depth: int = 2) -> None:
        context = multiprocessing.get_context("spawn")
        self.queue = context.Queue(maxsize=depth)
        self.process = context.Process(target=_child, args=(config, self.queue), daemon=True)
        self.process.start()

    def next(self, timeout: float = 5.0) -> Item | None:
        while True:
            try:
                return self.queue.get(timeout=timeout)  # type: ignore[no-any-return]
            except queue_module.Empty:
                if not self.process.is_alive():
                    return Failed("the import process ended unexpectedly")

    def close(self) -> None:
        if self.process.is_alive():
            self.process.terminate()
        self.process.join(timeout=10)
        self.queue.close()


__all__ = [
    "HEADERS",
    "HOUSEHOLD_COPY_COLUMNS",
    "MEMBER_COPY_COLUMNS",
    "Failed",
    "Finished",
    "Opened",
    "PreparedChunk",
    "ProducerConfig",
    "ProducerProcess",
    "Sealer",
    "produce",
]
