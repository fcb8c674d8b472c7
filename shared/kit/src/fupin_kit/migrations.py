"""Alembic helpers: the kit's tables for a service's first migration, and the async env runner.

Alembic is the only DDL in fupin, in tests too; these helpers are called from migration scripts.
"""

from __future__ import annotations

import asyncio
from collections.abc import Collection, Sequence
from typing import Any

import sqlalchemy as sa
from alembic import context, op
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.ext.asyncio import create_async_engine

AUDIT_GUARD_SQL = """
CREATE FUNCTION audit_log_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'audit_log is append-only: % refused', TG_OP
    USING ERRCODE = 'insufficient_privilege';
END $$;
CREATE TRIGGER audit_log_no_update_delete BEFORE UPDATE OR DELETE ON audit_log
  FOR EACH ROW EXECUTE FUNCTION audit_log_refuse_change();
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
  FOR EACH STATEMENT EXECUTE FUNCTION audit_log_refuse_change();
"""

# The audit chain's append in one statement (fupin_kit.audit.append_many_at_once): the same
# records, digests and links AuditTrail.append_many writes, computed by the server, so that a
# writer pays one round trip per flush instead of five. 658711 is AUDIT_LOCK_KEY (0xA0D17).
AUDIT_APPEND_SQL = """
CREATE FUNCTION audit_append_many(
  p_actors text[], p_actions text[], p_object_types text[], p_object_ids text[],
  p_details text[], p_occurred timestamptz, p_occurred_text text
) RETURNS text[] LANGUAGE plpgsql AS $$
DECLARE
  previous text;
  digest text;
  current text;
  hashes text[] := '{}';
BEGIN
  PERFORM pg_advisory_xact_lock(658711);
  SELECT hash INTO previous FROM audit_log ORDER BY seq DESC LIMIT 1;
  previous := coalesce(previous, repeat('0', 64));
  FOR i IN 1 .. coalesce(array_length(p_actors, 1), 0) LOOP
    digest := encode(sha256(convert_to(p_details[i], 'UTF8')), 'hex');
    current := encode(sha256(convert_to(concat_ws(chr(31), previous, p_occurred_text,
      p_actors[i], p_actions[i], p_object_types[i], p_object_ids[i], digest), 'UTF8')), 'hex');
    INSERT INTO audit_log (occurred_at, actor, action, object_type, object_id, details, digest,
                           prev_hash, hash)
    VALUES (p_occurred, p_actors[i], p_actions[i], p_object_types[i], p_object_ids[i],
            p_details[i]::jsonb, digest, previous, current);
    hashes := hashes || current;
    previous := current;
  END LOOP;
  RETURN hashes;
END $$
"""

# The chain's keyed hash computed by the server, for appends made by server functions: the
# HMAC-SHA256 of the material under the key whose id and pads the connection set when it opened
# (fupin_kit.audit.AuditKeys.server_settings); the key itself never reaches a table. A session
# without them cannot append.
AUDIT_KEYED_HASH_SQL = """
CREATE FUNCTION audit_keyed_hash(p_material text) RETURNS text LANGUAGE plpgsql STABLE AS $$
DECLARE
  inner_pad bytea := decode(nullif(current_setting('fupin.audit_inner_pad', true), ''), 'hex');
  outer_pad bytea := decode(nullif(current_setting('fupin.audit_outer_pad', true), ''), 'hex');
BEGIN
  IF inner_pad IS NULL OR outer_pad IS NULL OR audit_key_id() IS NULL THEN
    RAISE EXCEPTION 'this session holds no audit key (fupin.audit_key_id): it cannot append to'
      ' the audit chain' USING ERRCODE = 'insufficient_privilege';
  END IF;
  RETURN encode(sha256(outer_pad || sha256(inner_pad || convert_to(p_material, 'UTF8'))), 'hex');
END $$;
"""
AUDIT_KEY_ID_SQL = """
CREATE FUNCTION audit_key_id() RETURNS text LANGUAGE sql STABLE AS $$
  SELECT nullif(current_setting('fupin.audit_key_id', true), '')
$$;
"""

# audit_append_many signing with the session's key; the pads are read once per call and the
# HMAC is written out, since a flush of bank checks appends thousands of records.
AUDIT_APPEND_KEYED_SQL = """
CREATE OR REPLACE FUNCTION audit_append_many(
  p_actors text[], p_actions text[], p_object_types text[], p_object_ids text[],
  p_details text[], p_occurred timestamptz, p_occurred_text text
) RETURNS text[] LANGUAGE plpgsql AS $$
DECLARE
  previous text;
  digest text;
  current text;
  hashes text[] := '{}';
  key_id text := audit_key_id();
  inner_pad bytea := decode(nullif(current_setting('fupin.audit_inner_pad', true), ''), 'hex');
  outer_pad bytea := decode(nullif(current_setting('fupin.audit_outer_pad', true), ''), 'hex');
BEGIN
  IF inner_pad IS NULL OR outer_pad IS NULL OR key_id IS NULL THEN
    PERFORM audit_keyed_hash('');  -- refuses, naming what is missing
  END IF;
  PERFORM pg_advisory_xact_lock(658711);
  SELECT hash INTO previous FROM audit_log ORDER BY seq DESC LIMIT 1;
  previous := coalesce(previous, repeat('0', 64));
  FOR i IN 1 .. coalesce(array_length(p_actors, 1), 0) LOOP
    digest := encode(sha256(convert_to(p_details[i], 'UTF8')), 'hex');
    current := encode(sha256(outer_pad || sha256(inner_pad || convert_to(concat_ws(chr(31),
      previous, p_occurred_text, p_actors[i], p_actions[i], p_object_types[i], p_object_ids[i],
      digest), 'UTF8'))), 'hex');
    INSERT INTO audit_log (occurred_at, actor, action, object_type, object_id, details, digest,
                           prev_hash, hash, key_id)
    VALUES (p_occurred, p_actors[i], p_actions[i], p_object_types[i], p_object_ids[i],
            p_details[i]::jsonb, digest, previous, current, key_id);
    hashes := hashes || current;
    previous := current;
  END LOOP;
  RETURN hashes;
END $$
"""

OUTBOX_NOTIFY_SQL = """
CREATE FUNCTION outbox_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_notify('fupin_outbox', '');
  RETURN NULL;
END $$;
CREATE TRIGGER outbox_notify_insert AFTER INSERT ON outbox
  FOR EACH STATEMENT EXECUTE FUNCTION outbox_notify();
"""


def has_lz4() -> bool:
    """Whether the server was built with lz4 (TOAST compression)."""
    return bool(
        op.get_bind()
        .execute(
            sa.text(
                "SELECT 'lz4' = ANY(enumvals) FROM pg_settings"
                " WHERE name = 'default_toast_compression'"
            )
        )
        .scalar()
    )


def compress_with_lz4(columns: Sequence[tuple[str, str]]) -> None:
    """Store new values of large columns (``(table, column)``) with lz4, which compresses several
    times faster than the default pglz at a similar ratio. Values already stored keep their
    compression; a server built without lz4 keeps pglz."""
    if has_lz4():
        for table, column in columns:
            op.execute(f"ALTER TABLE {table} ALTER COLUMN {column} SET COMPRESSION lz4")


def default_compression(columns: Sequence[tuple[str, str]]) -> None:
    for table, column in columns:
        op.execute(f"ALTER TABLE {table} ALTER COLUMN {column} SET COMPRESSION default")


def create_audit_append() -> None:
    """The one-statement audit append (``audit_append_many``) for a service that needs it, as it
    was before the chain was keyed (``key_audit_chain`` replaces it)."""
    op.execute(AUDIT_APPEND_SQL)


def key_audit_chain(*, server_append: bool) -> None:
    """Key the audit chain: a ``key_id`` per row (NULL for the rows already written, which keep
    their plain SHA-256), the server's keyed hash (``audit_keyed_hash``, ``audit_key_id``) for
    a service's own server functions and, where the service has it, the keyed one-statement
    append."""
    op.add_column("audit_log", sa.Column("key_id", sa.Text(), nullable=True))
    op.execute(AUDIT_KEY_ID_SQL)
    op.execute(AUDIT_KEYED_HASH_SQL)
    if server_append:
        op.execute(AUDIT_APPEND_KEYED_SQL)


def unkey_audit_chain(*, server_append: bool) -> None:
    if server_append:
        drop_audit_append()
        create_audit_append()
    op.execute("DROP FUNCTION audit_keyed_hash(text)")
    op.execute("DROP FUNCTION audit_key_id()")
    op.drop_column("audit_log", "key_id")


def drop_audit_append() -> None:
    op.execute(
        "DROP FUNCTION audit_append_many(text[], text[], text[], text[], text[], timestamptz, text)"
    )


def create_kit_tables() -> None:
    """Create outbox, inbox, idempotency and audit tables (call from the first revision)."""
    ts = sa.DateTime(timezone=True)
    op.create_table(
        "outbox",
        sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
        sa.Column("event_id", sa.Text, nullable=False),
        sa.Column("topic", sa.Text, nullable=False),
        sa.Column("key", sa.Text, nullable=False),
        sa.Column("event_type", sa.Text, nullable=False),
        sa.Column("payload", JSONB, nullable=False),
        sa.Column("created_at", ts, server_default=sa.func.now(), nullable=False),
        sa.Column("published_at", ts),
        sa.UniqueConstraint("event_id", name="uq_outbox_event_id"),
    )
    op.create_index(
        "ix_outbox_unpublished", "outbox", ["id"], postgresql_where=sa.text("published_at IS NULL")
    )
    for statement in _split(OUTBOX_NOTIFY_SQL):
        op.execute(statement)
    op.create_table(
        "inbox",
        sa.Column("consumer", sa.Text, primary_key=True),
        sa.Column("event_id", sa.Text, primary_key=True),
        sa.Column("event_type", sa.Text, nullable=False),
        sa.Column("topic", sa.Text, nullable=False),
        sa.Column("partition", sa.Integer, nullable=False),
        sa.Column("offset", sa.BigInteger, nullable=False),
        sa.Column("processed_at", ts, server_default=sa.func.now(), nullable=False),
    )
    op.create_table(
        "idempotency_keys",
        sa.Column("caller", sa.Text, primary_key=True),
        sa.Column("key", sa.Text, primary_key=True),
        sa.Column("request_hash", sa.Text, nullable=False),
        sa.Column("status_code", sa.Integer),
        sa.Column("response", JSONB),
        sa.Column("created_at", ts, server_default=sa.func.now(), nullable=False),
    )
    op.create_table(
        "audit_log",
        sa.Column("seq", sa.BigInteger, sa.Identity(), primary_key=True),
        sa.Column("occurred_at", ts, nullable=False),
        sa.Column("actor", sa.Text, nullable=False),
        sa.Column("action", sa.Text, nullable=False),
        sa.Column("object_type", sa.Text, nullable=False),
        sa.Column("object_id", sa.Text, nullable=False),
        sa.Column("details", JSONB, nullable=False),
        sa.Column("digest", sa.Text, nullable=False),
        sa.Column("prev_hash", sa.Text, nullable=False),
        sa.Column("hash", sa.Text, nullable=False),
        sa.UniqueConstraint("hash", name="uq_audit_log_hash"),
    )
    op.create_index("ix_audit_log_object", "audit_log", ["object_type", "object_id"])
    for statement in _split(AUDIT_GUARD_SQL):
        op.execute(statement)


def drop_kit_tables() -> None:
    for table in ("audit_log", "idempotency_keys", "inbox", "outbox"):
        op.drop_table(table)
    op.execute("DROP FUNCTION IF EXISTS audit_log_refuse_change()")
    op.execute("DROP FUNCTION IF EXISTS outbox_notify()")


def add_outbox_parking() -> None:
    """Outbox rows Kafka refuses for good (a message over the size limit, an invalid topic) are
    parked by the relay with the reason, instead of holding up every later row (call from a
    revision after ``create_kit_tables``)."""
    op.add_column("outbox", sa.Column("parked_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("outbox", sa.Column("park_reason", sa.Text, nullable=True))


def drop_outbox_parking() -> None:
    op.drop_column("outbox", "park_reason")
    op.drop_column("outbox", "parked_at")


# Token buckets shared by a service's processes (fupin_kit.ratelimit). UNLOGGED: a crash empties
# the table, which leaves every client a full bucket, and charging it writes no WAL. The clock is
# read after the row lock is held, so refills never run backwards.
RATE_BUCKET_TAKE_SQL = """
CREATE FUNCTION rate_bucket_take(
  p_scope text, p_client text, p_rate float8, p_burst float8, p_least float8, p_most float8,
  OUT granted float8, OUT remaining float8
) LANGUAGE plpgsql AS $$
DECLARE
  held float8;
  since timestamptz;
  now_at timestamptz;
BEGIN
  INSERT INTO rate_buckets (scope, client, tokens, updated_at)
  VALUES (p_scope, p_client, p_burst, clock_timestamp())
  ON CONFLICT (scope, client) DO NOTHING;
  SELECT b.tokens, b.updated_at INTO held, since FROM rate_buckets b
  WHERE b.scope = p_scope AND b.client = p_client FOR UPDATE;
  now_at := greatest(clock_timestamp(), since);
  held := least(p_burst, held + extract(epoch FROM now_at - since)::float8 * p_rate);
  IF held >= p_least THEN
    granted := least(held, greatest(p_least, p_most));
  ELSE
    granted := 0;
  END IF;
  remaining := held - granted;
  UPDATE rate_buckets SET tokens = remaining, updated_at = now_at
  WHERE scope = p_scope AND client = p_client;
END $$
"""


def create_rate_buckets() -> None:
    """The shared token buckets and their charging function (fupin_kit.ratelimit)."""
    op.create_table(
        "rate_buckets",
        sa.Column("scope", sa.Text, primary_key=True),
        sa.Column("client", sa.Text, primary_key=True),
        sa.Column("tokens", sa.Float, nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        prefixes=["UNLOGGED"],
    )
    op.execute(RATE_BUCKET_TAKE_SQL)


def drop_rate_buckets() -> None:
    op.execute(
        "DROP FUNCTION IF EXISTS rate_bucket_take(text, text, float8, float8, float8, float8)"
    )
    op.drop_table("rate_buckets")


def _split(sql: str) -> list[str]:
    # Functions contain semicolons inside $$ bodies; split on the statement keywords instead.
    parts: list[str] = []
    for chunk in sql.strip().split("\nCREATE "):
        chunk = chunk.strip()
        if chunk:
            parts.append(chunk if chunk.startswith("CREATE ") else "CREATE " + chunk)
    return parts


def run_env(
    target_metadata: Any, database_url: str, *, own_kit_indexes: Collection[str] = ()
) -> None:
    """Body of a service's ``migrations/env.py`` (online, async).

    ``own_kit_indexes``: indexes a service's own migrations add to the kit's tables (the kit's
    models are every service's, so they cannot declare them); comparisons leave them out."""
    url = context.config.attributes.get("database_url") or database_url

    def include_object(
        item: Any, name: str | None, type_: str, reflected: bool, compare_to: Any
    ) -> bool:
        return not (type_ == "index" and name in own_kit_indexes)

    def do_run(connection: sa.Connection) -> None:
        context.configure(
            connection=connection,
            target_metadata=target_metadata,
            compare_type=True,
            include_object=include_object,
        )
        with context.begin_transaction():
            context.run_migrations()

    async def run_async() -> None:
        engine = create_async_engine(url, poolclass=sa.pool.NullPool)
        async with engine.connect() as connection:
            await connection.run_sync(do_run)
        await engine.dispose()

    connection = context.config.attributes.get("connection")
    if connection is not None:
        do_run(connection)
    else:
        asyncio.run(run_async())
