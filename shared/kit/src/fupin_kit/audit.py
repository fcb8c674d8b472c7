"""Append-only, hash-chained audit trail.

Each row's ``hash`` covers the previous row's hash and the row's own content, so editing a row
breaks its hash and deleting one breaks the next row's link. The hash is an HMAC-SHA256 under a
key that is never stored in the database (``audit_keys``, the row's ``key_id`` naming it), so
whoever can write to the database still cannot rewrite a record and re-link the rows after it;
rows written before the chain was keyed (``key_id`` NULL) carry a plain SHA-256 and are still
verified, but none may follow a keyed row. The database refuses UPDATE, DELETE and TRUNCATE on
the table (a trigger created by the kit migration). Appends take a transaction-scoped advisory
lock so the chain stays linear under concurrency.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from fupin_kit.crypto import parse_keyring

GENESIS = "0" * 64
AUDIT_LOCK_KEY = 0xA0D17
# Joins the hashed fields of a row (here and in the server functions that append to the chain).
SEPARATOR = "\x1f"
_NAMED_FIELDS = ("actor", "action", "object_type", "object_id")
# Dev-only key material, refused in prod by ServiceSettings; deployments set <SERVICE>_AUDIT_KEYS.
DEV_AUDIT_KEYS = "dev:" + base64.b64encode(b"fupin-dev-audit-key-not-for-prod").decode()
_HMAC_BLOCK = 64  # bytes, SHA-256's block size
AUDIT_KEY_ID_SETTING = "fupin.audit_key_id"
AUDIT_INNER_PAD_SETTING = "fupin.audit_inner_pad"
AUDIT_OUTER_PAD_SETTING = "fupin.audit_outer_pad"


@dataclass(frozen=True)
class AuditKeys:
    """The keys of the chain's HMAC: ``signing`` signs new records, every key verifies."""

    keys: Mapping[str, bytes]
    signing: str
    _derived: dict[tuple[str, str], bytes] = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def parse(cls, spec: str) -> AuditKeys:
        """``id:base64(32 bytes),...``; the first key signs."""
        ring = parse_keyring(spec, "audit key")
        return cls(ring, next(iter(ring)))

    def seal(self, key_id: str, material: bytes) -> str:
        return hmac.new(self.keys[key_id], material, hashlib.sha256).hexdigest()

    def derived(self, purpose: str, key_id: str | None = None) -> bytes:
        """A key derived from the signing key (or ``key_id``) for another purpose (the request
        fingerprints of ``fupin_kit.idempotency``), so one secret serves both without one use
        revealing the other."""
        key_id = key_id or self.signing
        derived = self._derived.get((purpose, key_id))
        if derived is None:
            derived = hmac.new(self.keys[key_id], purpose.encode(), hashlib.sha256).digest()
            self._derived[(purpose, key_id)] = derived
        return derived

    def server_settings(self) -> dict[str, str]:
        """Session settings with which the database's own appends (``audit_keyed_hash``,
        ``fupin_kit.migrations``) sign as the kit does: the signing key's id and the key XOR-ed
        with HMAC's inner and outer pads (keys are 32 bytes, shorter than SHA-256's block, so
        they are only zero-filled). Sent when a connection opens, they live in that session
        only: never in a table, the log or the WAL."""
        block = self.keys[self.signing].ljust(_HMAC_BLOCK, b"\0")
        return {
            AUDIT_KEY_ID_SETTING: self.signing,
            AUDIT_INNER_PAD_SETTING: bytes(b ^ 0x36 for b in block).hex(),
            AUDIT_OUTER_PAD_SETTING: bytes(b ^ 0x5C for b in block).hex(),
        }


_keys = AuditKeys.parse(DEV_AUDIT_KEYS)


def use_audit_keys(keys: AuditKeys) -> None:
    """Set the process's audit keys (the app factory does, from ``audit_keys``)."""
    global _keys
    _keys = keys


def audit_keys() -> AuditKeys:
    return _keys


def audit_server_settings() -> dict[str, str]:
    """The current keys' session settings, for a connection about to open."""
    return _keys.server_settings()


def audit_text(value: str) -> str:
    """``value`` as the audit chain stores it: a separator inside a field is written as the
    text ``\\u001f``, so that no row's fields can be split differently under the same hash."""
    return value.replace(SEPARATOR, "\\u001f") if SEPARATOR in value else value


@dataclass(frozen=True)
class AuditRecord:
    actor: str
    action: str
    object_type: str
    object_id: str
    details: dict[str, Any]
    # ``canonical(details)`` when the writer has it already (``canonical_plain``).
    encoded: str | None = None

    def __post_init__(self) -> None:
        # Written out: a bank's batch check builds a record per person.
        if (
            SEPARATOR in self.actor
            or SEPARATOR in self.action
            or SEPARATOR in self.object_type
            or SEPARATOR in self.object_id
        ):
            for name in _NAMED_FIELDS:
                object.__setattr__(self, name, audit_text(getattr(self, name)))

    def canonical_details(self) -> str:
        return self.encoded if self.encoded is not None else canonical(self.details)


def canonical(details: dict[str, Any]) -> str:
    return json.dumps(
        details, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str
    )


def canonical_plain(details: dict[str, Any]) -> str:
    """``canonical(details)``, several times faster, for details made only of strings (string
    enums included), booleans, None, lists and dicts of them, as in a bank check's record.

    orjson and ``json`` (``ensure_ascii=False``) write every character of Unicode alike (the
    kit's tests check them all), sort keys alike and use the same separators; they differ on
    floats, dates and other objects, which such details do not hold. A lone surrogate, which
    orjson refuses, takes ``canonical``."""
    try:
        return orjson.dumps(details, option=orjson.OPT_SORT_KEYS).decode()
    except orjson.JSONEncodeError:
        return canonical(details)


def chain_hash(
    prev_hash: str,
    occurred_at: str,
    record: AuditRecord,
    digest: str,
    key_id: str | None = None,
    keys: AuditKeys | None = None,
) -> str:
    """The row's hash: HMAC-SHA256 under the key ``key_id``, or the plain SHA-256 of rows
    written before the chain was keyed (``key_id`` None)."""
    material = SEPARATOR.join(
        [
            prev_hash,
            occurred_at,
            record.actor,
            record.action,
            record.object_type,
            record.object_id,
            digest,
        ]
    ).encode()
    if key_id is None:
        return hashlib.sha256(material).hexdigest()
    return (keys or _keys).seal(key_id, material)


class AuditTrail:
    """Repository for the audit table, used inside the caller's transaction."""

    def __init__(self, session: AsyncSession | AsyncConnection) -> None:
        self.session = session

    async def append(self, record: AuditRecord) -> str:
        return (await self.append_many([record]))[-1]

    async def append_many(self, records: list[AuditRecord]) -> list[str]:
        if not records:
            return []
        await self.session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": AUDIT_LOCK_KEY})
        prev = (
            await self.session.execute(text("SELECT hash FROM audit_log ORDER BY seq DESC LIMIT 1"))
        ).scalar() or GENESIS
        rows, hashes = [], []
        now = datetime.now(UTC)
        keys = _keys
        for record in records:
            occurred = now.isoformat()
            details = record.canonical_details()
            digest = hashlib.sha256(details.encode()).hexdigest()
            current = chain_hash(prev, occurred, record, digest, keys.signing, keys)
            rows.append(
                {
                    "occurred_at": now,
                    "actor": record.actor,
                    "action": record.action,
                    "object_type": record.object_type,
                    "object_id": record.object_id,
                    "details": details,
                    "digest": digest,
                    "prev_hash": prev,
                    "hash": current,
                    "key_id": keys.signing,
                }
            )
            hashes.append(current)
            prev = current
        await self.session.execute(
            text(
                "INSERT INTO audit_log (occurred_at, actor, action, object_type, object_id,"
                " details, digest, prev_hash, hash, key_id)"
                " SELECT o, a, ac, ot, oi, d::jsonb, dg, p, h, k FROM unnest("
                "CAST(:occurred_at AS timestamptz[]), CAST(:actor AS text[]),"
                " CAST(:action AS text[]), CAST(:object_type AS text[]),"
                " CAST(:object_id AS text[]), CAST(:details AS text[]), CAST(:digest AS text[]),"
                " CAST(:prev_hash AS text[]), CAST(:hash AS text[]), CAST(:key_id AS text[]))"
                " AS t(o, a, ac, ot, oi, d, dg, p, h, k)"
            ),
            {key: [r[key] for r in rows] for key in rows[0]},
        )
        return hashes

    async def entries_for(self, object_type: str, object_id: str) -> list[dict[str, Any]]:
        result = await self.session.execute(
            text(
                "SELECT seq, occurred_at, actor, action, details FROM audit_log"
                " WHERE object_type = :t AND object_id = :i ORDER BY seq"
            ),
            {"t": audit_text(object_type), "i": audit_text(object_id)},
        )
        return [dict(r._mapping) for r in result]


@dataclass
class VerifyReport:
    checked: int
    problems: list[str]
    unsigned: int = 0  # rows written before the chain was keyed (plain SHA-256)

    @property
    def ok(self) -> bool:
        return not self.problems


async def append_many_at_once(connection: Any, records: list[AuditRecord]) -> list[str]:
    """Append ``records`` with ONE statement on a plain asyncpg ``connection``: the server
    function ``audit_append_many`` (``fupin_kit.migrations.create_audit_append``) takes the
    chain's lock, links and inserts them exactly as ``AuditTrail.append_many`` does, signed
    with the keys the connection opened with (``audit_server_settings``). Outside a
    transaction the statement commits by itself and releases the lock; the hashes are returned
    in order."""
    if not records:
        return []
    now = datetime.now(UTC)
    hashes: list[str] = await connection.fetchval(
        "SELECT audit_append_many($1, $2, $3, $4, $5, $6, $7)",
        [r.actor for r in records],
        [r.action for r in records],
        [r.object_type for r in records],
        [r.object_id for r in records],
        [r.canonical_details() for r in records],
        now,
        now.isoformat(),
    )
    return hashes


async def verify_chain(conn: AsyncConnection, keys: AuditKeys | None = None) -> VerifyReport:
    """Recompute every digest and link; report edited rows and broken links (deleted rows)."""
    keys = keys or _keys
    result = await conn.stream(
        text(
            "SELECT seq, occurred_at, actor, action, object_type, object_id,"
            " details::text AS details, digest, prev_hash, hash, key_id FROM audit_log"
            " ORDER BY seq"
        )
    )
    problems: list[str] = []
    prev = GENESIS
    checked = 0
    keyed_since: int | None = None
    unsigned = 0
    async for row in result:
        checked += 1
        if any(SEPARATOR in getattr(row, name) for name in _NAMED_FIELDS):
            # Appends never store one (AuditRecord), so only an edit can have put it there.
            problems.append(f"row {row.seq}: a field holds the separator U+001F (edited)")
        details = json.loads(row.details)
        record = AuditRecord(row.actor, row.action, row.object_type, row.object_id, details)
        digest = hashlib.sha256(canonical(details).encode()).hexdigest()
        if digest != row.digest:
            problems.append(f"row {row.seq}: details were changed (digest mismatch)")
        if row.prev_hash != prev:
            problems.append(f"row {row.seq}: link broken, a row before it is missing or changed")
        occurred = row.occurred_at.astimezone(UTC).isoformat()
        if row.key_id is None and keyed_since is not None:
            # Appends sign every row since the chain was keyed: an unsigned one was written by
            # someone without the key.
            problems.append(
                f"row {row.seq}: not signed, though the chain is signed since row {keyed_since}"
                " (written without the key)"
            )
        elif row.key_id is not None and row.key_id not in keys.keys:
            problems.append(
                f"row {row.seq}: signed with audit key {row.key_id!r}, which is not configured"
                " (cannot be verified)"
            )
        elif chain_hash(row.prev_hash, occurred, record, row.digest, row.key_id, keys) != row.hash:
            problems.append(f"row {row.seq}: content does not match its hash")
        if row.key_id is None:
            unsigned += 1
        elif keyed_since is None:
            keyed_since = row.seq
        prev = row.hash
    return VerifyReport(checked=checked, problems=problems, unsigned=unsigned)
