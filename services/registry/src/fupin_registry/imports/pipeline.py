"""The CPU side of an import: read → validate → group into households → encrypt → COPY text.

:func:`produce` turns a file into :class:`PreparedChunk` objects: whole households only (a
household never straddles two chunks), personal fields already encrypted and blind-indexed,
rows already in PostgreSQL's COPY text format for the register's tables (households, members,
incomes, history versions, outbox). It is pure computation
over the file, so it runs in a separate process (``import_workers`` ≥ 1) while the API
process merges the previous chunk, or in a thread (``import_workers = 0``).
"""

from __future__ import annotations

import base64
import binascii
import hmac
import multiprocessing
import os
import queue as queue_module
from collections.abc import Generator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import orjson

from fupin_kit.crypto import parse_keyring
from fupin_registry.imports.columns import HEADERS, HeaderError, HeaderMap
from fupin_registry.imports.limits import (
    STORED_REASON_CHARS,
    STORED_TEXT_CHARS,
    ReadLimits,
    beyond_household_reason,
    shorten,
)
from fupin_registry.imports.readers import (
    FileFacts,
    RawRow,
    UnreadableFile,
    is_column_merge,
    merged_ref,
    open_sheet,
)
from fupin_registry.imports.reasons import REPEATED_HOUSEHOLD
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
    row_errors,
)

VALIDATION_BATCH = 2_000
# Rows of a batch are held until it is validated: a batch of a few very long rows (each at
# most ``max_row_bytes`` of the file) is validated early, so that memory stays bounded.
VALIDATION_BATCH_BYTES = 32 * 1024 * 1024

# The chunk is COPYed straight into the register's tables, in this order (parents first, for
# the foreign keys); the columns each table's COPY text holds.
COPY_COLUMNS: dict[str, tuple[str, ...]] = {
    "households": (
        "id",
        "village_code",
        "household_number",
        "attribute",
        "support_type",
        "primary_cause",
        "secondary_causes",
        "identification_standard",
        "phone_enc",
        "bank_account_enc",
        "housing_safety",
        "drinking_water_safe",
        "status",
        "year",
        "registered_on",
        "exited_on",
        "version",
        "import_job_id",
        "import_row",
    ),
    "members": (
        "id",
        "household_id",
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
        "active",
    ),
    "household_incomes": ("household_id", "year", "source", "amount"),
    "household_versions": (
        "household_id",
        "version",
        "village_code",
        "status",
        "actor",
        "action",
        "changed",
        "snapshot",
    ),
    "outbox": ("event_id", "topic", "key", "event_type", "payload"),
}
TABLES = tuple(COPY_COLUMNS)
INCOME_SOURCES = ("wages", "production", "property", "transfer", "production_costs")


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
    actor: str = ""  # who the history versions name (set when the job starts)
    limits: ReadLimits = field(default_factory=ReadLimits)
    # The uploader may read personal data: a refusal names the household holding a person.
    names_households: bool = False


@dataclass
class Opened:
    """The header was found and mapped."""

    header_row: int
    ignored_columns: list[str]
    merged: list[str]


@dataclass
class PreparedChunk:
    """Whole valid households, ready for COPY, plus what classification and the report need.

    ``copies[table]`` holds the COPY text of every household of the chunk in file order and
    ``ends[table][i]`` the byte offset where household ``i``'s lines end, so the merge can leave
    out households the register already has without rebuilding anything.
    """

    number: int
    copies: dict[str, bytes]
    ends: dict[str, list[int]]
    household_ids: list[str]
    household_keys: list[tuple[str, str]]  # (village code, household number)
    household_rows: list[int]  # the file row each household begins at
    member_households: list[int]  # position in household_ids of each member row
    member_rows: list[int]
    member_indexes: list[bytes]  # blind indexes, in member_rows order
    errors: list[RowError]
    rows_read: int
    rows_valid: int
    rows_rejected: int
    rows_empty: int

    def rows_by_household(self) -> list[list[int]]:
        """The row numbers of each household, by position."""
        rows: list[list[int]] = [[] for _ in self.household_ids]
        for row, position in zip(self.member_rows, self.member_households, strict=True):
            rows[position].append(row)
        return rows

    def copies_without(self, left_out: set[int]) -> dict[str, bytes]:
        """The COPY text of each table without the households at the ``left_out`` positions."""
        if not left_out:
            return self.copies
        kept: dict[str, bytes] = {}
        for table, blob in self.copies.items():
            ends, view, start, parts = self.ends[table], memoryview(blob), 0, []
            for position, end in enumerate(ends):
                if position not in left_out and end > start:
                    parts.append(view[start:end])
                start = end
            kept[table] = b"".join(parts)
        return kept


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
        self._nonces = _RandomPool(NONCE_BYTES)

    def seal(self, value: str, field_name: bytes) -> bytes:
        nonce = self._nonces.take()
        return self._prefix + nonce + self._aead.encrypt(nonce, value.encode(), field_name)

    def index(self, id_number: str) -> bytes:
        return hmac.digest(self._index_key, id_number.encode(), "sha256")


class _RandomPool:
    """Fresh random values of ``size`` bytes from one ``os.urandom`` call per few thousand:
    the same kernel randomness as one call per value, without a system call each time."""

    def __init__(self, size: int, batch: int = 4096) -> None:
        self._size = size
        self._batch = batch
        self._values: list[bytes] = []

    def take(self) -> bytes:
        if not self._values:
            blob = os.urandom(self._size * self._batch)
            size = self._size
            self._values = [blob[i : i + size] for i in range(0, len(blob), size)]
        return self._values.pop()


NONCE_BYTES = 12


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
    # binascii directly: base64.b64encode is a Python wrapper around the same call.
    return None if value is None else binascii.b2a_base64(value, newline=False).decode()


def _json(value: dict[str, Any]) -> str:
    """A JSON document as a COPY text field (JSON escapes hold backslashes)."""
    text = orjson.dumps(value).decode()
    return text.replace("\\", "\\\\") if "\\" in text else text


def _new_id(pool: _RandomPool) -> str:
    """A random (version 4) UUID as text, without the cost of ``uuid.UUID`` objects."""
    raw = bytearray(pool.take())
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
    topic: str

    @classmethod
    def registered(cls) -> EventSpec:
        from fupin_events.catalog import spec_for_model
        from fupin_events.registry import HouseholdRegistered

        spec = spec_for_model(HouseholdRegistered)
        return cls(f"/fupin/{spec.producer}", spec.type, spec.dataschema, spec.topic.value)


def _copy_text(value: str) -> str:
    """Any text as a COPY text field (the actor comes from a token, not from validation)."""
    return (
        value.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")
    )


@dataclass
class _Tables:
    """COPY text per table, grown one household at a time, with each household's end offset."""

    parts: dict[str, list[bytes]] = field(default_factory=lambda: {t: [] for t in TABLES})
    ends: dict[str, list[int]] = field(default_factory=lambda: {t: [] for t in TABLES})
    sizes: dict[str, int] = field(default_factory=lambda: dict.fromkeys(TABLES, 0))

    def add(self, table: str, text: str) -> None:
        if text:
            blob = text.encode()
            self.parts[table].append(blob)
            self.sizes[table] += len(blob)
        self.ends[table].append(self.sizes[table])


def registration_date(household: Household, today: date) -> date:
    """The household's 登记日期, or the date it is registered on when the file leaves it blank
    (every imported status is registered), in its identification year (识别年度), as the
    identification workflow registers it: the import date for a household identified this
    year and not exited; otherwise the first day of its identification year, which its exit
    does not precede, or its head's birth date if later."""
    if household.registered_on is not None:
        return household.registered_on
    if household.exited_on is None and household.year == today.year:
        return today
    first_day = date(household.year, 1, 1)
    head = next((m for m in household.members if m.relation == "head"), None)
    return max(first_day, head.birth_date) if head is not None else first_day


def to_copy(
    households: list[Household],
    sealer: Sealer,
    ids: _RandomPool,
    today: date,
    events: EventSpec,
    actor: str,
    job_id: str,
) -> tuple[dict[str, bytes], dict[str, list[int]], list[str], list[bytes]]:
    """COPY text for the register's tables, with each household's history snapshot and event.

    The snapshot has the keys of ``households.snapshot.snapshot_of`` and the event is the
    envelope ``fupin_events.envelope.new_event`` makes (both checked by tests); building them
    here keeps that work out of the database and out of the process that merges.
    Returns the COPY text and household end offsets per table, the household ids and the
    members' blind indexes (in row order).
    """
    tables = _Tables()
    add = tables.add
    household_ids: list[str] = []
    member_indexes: list[bytes] = []
    seal, index = sealer.seal, sealer.index
    event_time = datetime.now(UTC).isoformat().replace("+00:00", "Z")
    version_prefix = "\t1\t"
    version_actor = "\t" + _copy_text(actor) + "\timported\t{}\t"
    outbox_middle = "\t" + _copy_text(events.topic) + "\t"
    outbox_type = "\t" + _copy_text(events.type) + "\t"
    for h in households:
        household_id = _new_id(ids)
        household_ids.append(household_id)
        registered_on = registration_date(h, today).isoformat()
        phone = seal(h.phone, b"phone") if h.phone else None
        bank_account = seal(h.bank_account, b"bank_account") if h.bank_account else None
        people = []
        member_lines = []
        for m in h.members:
            member_id = _new_id(ids)  # text order = byte order = PostgreSQL's uuid order
            id_index = index(m.id_number)
            id_index_hex = id_index.hex()
            id_number_enc = seal(m.id_number, b"id_number")
            name_enc = seal(m.name, b"name")
            birth_date = m.birth_date.isoformat()
            member_indexes.append(id_index)
            people.append(
                (
                    (m.relation != "head", m.birth_date, member_id),
                    m,
                    member_id,
                    id_index_hex,
                    id_number_enc,
                    name_enc,
                    birth_date,
                )
            )
            member_lines.append(
                "\t".join(
                    (
                        member_id,
                        household_id,
                        "\\\\x" + id_index_hex,
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
                        "t",
                    )
                )
            )
        people.sort(key=lambda p: p[0])  # the order HouseholdRepository.members reads them
        snapshot_members = [
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
                "id_index": id_index_hex,
                "id_number_enc": _b64(id_number_enc),
                "name_enc": _b64(name_enc),
                "birth_date": birth_date,
            }
            for _, m, member_id, id_index_hex, id_number_enc, name_enc, birth_date in people
        ]
        incomes = sorted(h.incomes.items())
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
            "registered_on": registered_on,
            "exited_on": h.exited_on.isoformat() if h.exited_on else None,
            "cadre_paired_on": None,
            "members": snapshot_members,
            "incomes": [
                {"year": h.income_year, "source": source, "amount": format(amount, ".2f")}
                for source, amount in incomes
            ],
            "measures": [],
        }
        event_id = _new_id(ids)
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
                "registered_on": registered_on,
                "exited_on": h.exited_on.isoformat() if h.exited_on else None,
                "year": h.year,
                "version": 1,
            },
        }
        add(
            "households",
            "\t".join(
                (
                    household_id,
                    h.village_code,
                    _text(h.household_number),
                    h.attribute,
                    h.support_type,
                    h.primary_cause,
                    "{" + ",".join(h.secondary_causes) + "}",
                    h.identification_standard,
                    _bytea(phone),
                    _bytea(bank_account),
                    h.housing_safety,
                    _bool(h.drinking_water_safe),
                    h.status,
                    str(h.year),
                    registered_on,
                    _opt(h.exited_on),
                    "1",
                    job_id,
                    str(h.first_row),
                )
            )
            + "\n",
        )
        add("members", "\n".join(member_lines) + "\n")
        income_year = str(h.income_year)
        add(
            "household_incomes",
            "".join(
                f"{household_id}\t{income_year}\t{source}\t{amount}\n" for source, amount in incomes
            ),
        )
        add(
            "household_versions",
            household_id
            + version_prefix
            + h.village_code
            + "\t"
            + h.status
            + version_actor
            + _json(snapshot)
            + "\n",
        )
        add(
            "outbox",
            event_id + outbox_middle + household_id + outbox_type + _json(event) + "\n",
        )
    copies = {table: b"".join(parts) for table, parts in tables.parts.items()}
    return copies, tables.ends, household_ids, member_indexes


# Of the household being read when the file became unreadable (the reason follows).
ABANDONED_HOUSEHOLD = (
    "not imported: the household's rows may go on past where the file could not be read: "
)


class _Chunker:
    """Groups validated rows into households and households into chunks."""

    def __init__(self, config: ProducerConfig) -> None:
        self.config = config
        self.sealer = Sealer(config.pii_keys, config.blind_index_key)
        self.ids = _RandomPool(16)
        self.events = EventSpec.registered()
        self.repeated: set[int] = set()  # first rows of households whose key came earlier
        self.group: list[Checked] = []
        # Rows of the group's household past ``max_household_rows``: counted, not held.
        self.beyond_rows = self.beyond_first = self.beyond_last = 0
        self.households: list[Household] = []
        self.errors: list[RowError] = []
        self.rows_read = self.rows_valid = self.rows_rejected = self.rows_empty = 0
        self.number = 0

    def add(self, row: Checked) -> None:
        self.rows_read += 1
        if self.group and (row.key != self.group[0].key or not all(row.key)):
            self.finish_group()
        self.group.append(row)

    def beyond(self, number: int) -> None:
        """A row of the group's household past the rows a household may span: not held, and
        the household is rejected."""
        self.rows_read += 1
        if not self.beyond_rows:
            self.beyond_first = number
        self.beyond_rows += 1
        self.beyond_last = number

    def finish_group(self) -> None:
        rows, self.group = self.group, []
        if not rows:
            return
        errors = row_errors(rows)
        beyond = self.beyond_rows
        if beyond:
            self.beyond_rows = 0
            errors.append(
                RowError(
                    self.beyond_first,
                    "",
                    "",
                    beyond_household_reason(
                        beyond,
                        self.beyond_first,
                        self.beyond_last,
                        self.config.limits.max_household_rows,
                    ),
                )
            )
        key = rows[0].key
        if rows[0].row in self.repeated:
            errors.append(
                RowError(
                    rows[0].row,
                    "户编号",
                    key[1],
                    REPEATED_HOUSEHOLD(village=key[0], number=key[1]),
                )
            )
        if not errors:
            errors = household_errors(rows, self.config.rules.max_members)
        if errors:
            bad = {e.row for e in errors}
            self.errors.extend(map(_stored, errors))
            self.errors.extend(rejected_with_household(rows, bad))
            self.rows_rejected += len(rows) + beyond
            return
        self.households.append(assemble(rows))
        self.rows_valid += len(rows)

    def abandon_group(self, failure: str) -> None:
        """The household being read when the file became unreadable: its rows may go on past
        that point, so none of them is written."""
        rows, self.group = self.group, []
        beyond, self.beyond_rows = self.beyond_rows, 0
        if not rows:
            return
        error = RowError(rows[0].row, "", "", ABANDONED_HOUSEHOLD + failure)
        self.errors.append(_stored(error))
        self.errors.extend(rejected_with_household(rows, {rows[0].row}))
        self.rows_rejected += len(rows) + beyond

    def emit(self, number: int) -> PreparedChunk:
        self.number = number
        copies, ends, household_ids, member_indexes = to_copy(
            self.households,
            self.sealer,
            self.ids,
            self.config.rules.today,
            self.events,
            self.config.actor,
            self.config.job_id,
        )
        member_households: list[int] = []
        member_rows: list[int] = []
        for position, household in enumerate(self.households):
            for member in household.members:
                member_households.append(position)
                member_rows.append(member.row)
        chunk = PreparedChunk(
            number=self.number,
            copies=copies,
            ends=ends,
            household_ids=household_ids,
            household_keys=[(h.village_code, h.household_number) for h in self.households],
            household_rows=[h.first_row for h in self.households],
            member_households=member_households,
            member_rows=member_rows,
            member_indexes=member_indexes,
            errors=self.errors,
            rows_read=self.rows_read,
            rows_valid=self.rows_valid,
            rows_rejected=self.rows_rejected,
            rows_empty=self.rows_empty,
        )
        self.households, self.errors = [], []
        self.rows_read = self.rows_valid = self.rows_rejected = self.rows_empty = 0
        return chunk


def _stored(error: RowError) -> RowError:
    """The error as the job stores it: a long value or reason cut to its first characters."""
    if len(error.value) <= STORED_TEXT_CHARS and len(error.reason) <= STORED_REASON_CHARS:
        return error
    return RowError(
        error.row,
        error.column,
        shorten(error.value),
        shorten(error.reason, STORED_REASON_CHARS),
    )


def produce(
    config: ProducerConfig, worker: int = 0, workers: int = 1
) -> Generator[Item, None, None]:
    """The file as chunks; the first item is :class:`Opened`, the last :class:`Finished`.

    Chunk boundaries depend on the rows' household keys only (a chunk closes at the first
    household that starts after ``chunk_rows`` rows), so ``workers`` processes reading the same
    file agree on them: process ``worker`` validates and encrypts chunks ``worker + 1``,
    ``worker + 1 + workers``, … and only reads past the others. The contiguity check (a
    household's rows must be next to each other) sees every household of the file. Of a
    household spanning more than ``max_household_rows`` rows only the first are held; the
    others are counted and reported as one error, and the household is rejected.
    """
    try:
        sheet = open_sheet(
            Path(config.path), config.facts, config.calamine_max_bytes, config.limits
        )
    except (HeaderError, UnreadableFile) as exc:
        yield Failed(str(exc))
        return
    headers: HeaderMap = sheet.headers
    merged_fields = _merged_by_row(sheet.merged, sheet.header_row)
    yield Opened(sheet.header_row, list(headers.ignored), [merged_ref(m) for m in sheet.merged])
    chunker = _Chunker(config)
    to_dicts = RowDicts(headers)
    village_at = headers.positions["village_code"]
    number_at = headers.positions["household_number"]
    template_columns = sorted(headers.positions.values())
    batch: list[RawRow] = []
    batch_bytes = 0
    number = 1  # the chunk being filled
    rows_in_chunk = 0
    household_rows = 0  # of the household being read
    max_household_rows = config.limits.max_household_rows
    last_key: tuple[str, str] | None = None
    seen: set[int] = set()  # hashes of the household keys met so far

    def validate(batch: list[RawRow]) -> None:
        for row in check_rows(to_dicts(batch), config.rules):
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

    def close() -> PreparedChunk:
        validate(batch)
        batch.clear()
        chunker.finish_group()
        return chunker.emit(number)

    try:
        for raw in sheet:
            mine = (number - 1) % workers == worker
            # The key alone decides chunk boundaries: rows of other processes' chunks are not
            # read further (a streamed xlsx row is decoded only this far), nor are rows past
            # those a household may span (a row starting a household is read when validated).
            whole = mine and household_rows < max_household_rows
            key = raw.keys(village_at, number_at, whole=whole)
            if not key[0] and not key[1] and _outside_template(raw.cells, template_columns):
                # Empty, or text only in columns the import ignores (a footer such as
                # 制表人 under 备注): not another member of the household above.
                if mine:
                    chunker.rows_empty += 1
                continue
            if not key[0] and not key[1] and last_key is not None:
                key = last_key  # blank keys continue the household above (as RowDicts does)
            if key != last_key or not all(key):  # a household starts
                if rows_in_chunk >= config.chunk_rows:
                    if mine:
                        yield close()
                        batch_bytes = 0
                    number += 1
                    rows_in_chunk = 0
                    mine = (number - 1) % workers == worker
                last_key = key
                household_rows = 0
                if all(key):
                    digest = hash(key)
                    if digest in seen and mine:
                        chunker.repeated.add(raw.number)
                    seen.add(digest)
            rows_in_chunk += 1
            household_rows += 1
            if mine:
                if household_rows > max_household_rows:
                    # Not held: the household is rejected. Its first rows are validated now,
                    # so that these count for it and not for a household before it.
                    if batch:
                        validate(batch)
                        batch.clear()
                        batch_bytes = 0
                    chunker.beyond(raw.number)
                    continue
                batch.append(raw)
                batch_bytes += raw.size
                if len(batch) >= VALIDATION_BATCH or batch_bytes >= VALIDATION_BATCH_BYTES:
                    validate(batch)
                    batch.clear()
                    batch_bytes = 0
        if (number - 1) % workers == worker and (
            rows_in_chunk or chunker.rows_empty or chunker.group or chunker.households
        ):
            yield close()
    except UnreadableFile as exc:
        if (number - 1) % workers == worker:
            # The rows read before the failure are kept, as chunks committed before it are;
            # the household being read may go on past that point, so it is rejected.
            validate(batch)
            chunker.abandon_group(str(exc))
            if chunker.rows_read or chunker.rows_empty or chunker.households:
                yield chunker.emit(number)
        yield Failed(str(exc))
        return
    yield Finished(list(config.facts.notes))


def _outside_template(cells: list[str], template_columns: list[int]) -> bool:
    """Whether no template column of the row holds anything."""
    count = len(cells)
    return not any(cells[i] for i in template_columns if i < count)


def _merged_by_row(merged: list[tuple[int, int, int, int]], header_row: int) -> dict[int, str]:
    """Rows under merged cells wider than one column (one-column merges are filled down)."""
    rows: dict[int, str] = {}
    for area in merged:
        if is_column_merge(area):
            continue
        first_row, _, last_row, _ = area
        for number in range(max(first_row, header_row + 1), last_row + 1):
            rows.setdefault(number, merged_ref(area))
    return rows


# --- running the producer in another process --------------------------------------------------


def _child(config: ProducerConfig, out: Any, worker: int, workers: int) -> None:
    try:
        for item in produce(config, worker, workers):
            out.put(item)
    except Exception as exc:  # reported to the job, never lost
        out.put(Failed(f"the file could not be processed: {type(exc).__name__}: {exc}"))
    out.put(None)


class ProducerProcess:
    """``produce`` in ``workers`` child processes, each at most ``depth`` chunks ahead.

    Chunk ``n`` comes from process ``(n - 1) % workers``; reading the processes in turn hands
    the chunks to the merge in file order, exactly as one process would.
    """

    def __init__(self, config: ProducerConfig, workers: int = 1, depth: int = 2) -> None:
        context = multiprocessing.get_context("spawn")
        self.queues = [context.Queue(maxsize=depth) for _ in range(workers)]
        self.processes = [
            context.Process(target=_child, args=(config, queue, worker, workers), daemon=True)
            for worker, queue in enumerate(self.queues)
        ]
        # Started side by side: ``start`` returns only once the new process has read the
        # pickled config, which it does while importing the parser (the region table makes the
        # config larger than a pipe's buffer), so one after another the starts would add up.
        with ThreadPoolExecutor(max_workers=workers) as starting:
            list(starting.map(lambda process: process.start(), self.processes))
        self.turn = 0
        self.ended = False

    def _get(self, worker: int, timeout: float) -> Item | None:
        while True:
            try:
                return self.queues[worker].get(timeout=timeout)  # type: ignore[no-any-return]
            except queue_module.Empty:
                if not self.processes[worker].is_alive():
                    return Failed("the import process ended unexpectedly")

    def next(self, timeout: float = 5.0) -> Item | None:
        if self.ended:
            return None
        item = self._get(self.turn, timeout)
        if isinstance(item, Opened):
            for other in range(1, len(self.processes)):
                self._get(other, timeout)  # the same header, opened by every process
        elif isinstance(item, PreparedChunk):
            self.turn = (self.turn + 1) % len(self.processes)
        else:
            self.ended = True  # Finished, Failed or the end of the stream
        return item

    def close(self) -> None:
        for process in self.processes:
            if process.is_alive():
                process.terminate()
        for process, queue in zip(self.processes, self.queues, strict=True):
            process.join(timeout=10)
            queue.close()


__all__ = [
    "HEADERS",
    "COPY_COLUMNS",
    "TABLES",
    "Failed",
    "Finished",
    "Opened",
    "PreparedChunk",
    "ProducerConfig",
    "ProducerProcess",
    "Sealer",
    "produce",
]
