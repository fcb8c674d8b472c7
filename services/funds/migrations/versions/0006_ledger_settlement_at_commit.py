"""ledger: postings may settle at commit (deferred constraint trigger)

A posting inserts its entry, postings and events and a settlement row (balance deltas, audit
record). A trigger settles it: at the end of the statement, or, for the disbursement commands,
when the transaction commits (a deferred constraint trigger), so the hot account's row lock and
the audit chain's lock are held only while the commit itself runs, not across the client's
round trips between the posting and the COMMIT.

The foreign keys from entries and postings to accounts go: each check took a key-share lock on
the (hot) account row that the same transaction later updates at commit, and under concurrency
PostgreSQL refuses such lock combinations ("new multixact has more than one updating member").
Integrity stays: ``ledger_post`` now refuses an unknown account, and accounts cannot be deleted.

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "ledger_settlements",
        sa.Column("entry_id", sa.Text(), nullable=False),
        sa.Column("accounts", postgresql.ARRAY(sa.BigInteger()), nullable=False),
        sa.Column("deltas", postgresql.ARRAY(sa.BigInteger()), nullable=False),
        sa.Column("booked_on", sa.Date(), nullable=False),
        sa.Column("actor", sa.Text(), nullable=False),
        sa.Column("action", sa.Text(), nullable=False),
        sa.Column("details", sa.Text(), nullable=False),
        sa.Column("digest", sa.Text(), nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("occurred_text", sa.Text(), nullable=False),
        sa.Column("amount_pointer", sa.Text(), nullable=False),
        sa.Column("date_pointer", sa.Text(), nullable=False),
        sa.Column("settle_at_commit", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("entry_id", name=op.f("pk_ledger_settlements")),
    )
    for table, constraint in FOREIGN_KEYS:
        op.drop_constraint(constraint, table, type_="foreignkey")
    for statement in SETTLEMENT_SQL:
        op.execute(statement)


FOREIGN_KEYS = [
    ("ledger_entries", "fk_ledger_entries_debit_account_id_accounts"),
    ("ledger_entries", "fk_ledger_entries_credit_account_id_accounts"),
    ("ledger_postings", "fk_ledger_postings_account_id_accounts"),
]


SETTLEMENT_SQL = [
    """
    CREATE TRIGGER accounts_never_deleted BEFORE DELETE ON accounts
      FOR EACH ROW EXECUTE FUNCTION ledger_refuse_change()
    """,
    """
    CREATE TRIGGER accounts_no_truncate BEFORE TRUNCATE ON accounts
      FOR EACH STATEMENT EXECUTE FUNCTION ledger_refuse_change()
    """,
    # ledger_post of migration 0003, now also refusing an account that does not exist.
    """
    CREATE OR REPLACE FUNCTION ledger_post(
      p_accounts bigint[], p_deltas bigint[], p_on date,
      p_actor text, p_action text, p_object_type text, p_object_id text,
      p_details text, p_digest text, p_occurred timestamptz, p_occurred_text text
    ) RETURNS text LANGUAGE plpgsql AS $$
    DECLARE
      i integer;
      amount bigint;
      previous text;
    BEGIN
      FOR i IN 1 .. coalesce(array_length(p_accounts, 1), 0) LOOP
        IF p_deltas[i] < 0 THEN
          amount := -p_deltas[i];
          UPDATE accounts
             SET balance_fen = balance_fen - amount, last_booked_on = greatest(last_booked_on, p_on)
           WHERE id = p_accounts[i] AND balance_fen >= amount
             AND (last_booked_on IS NULL OR last_booked_on <= p_on);
          IF NOT FOUND THEN
            IF NOT EXISTS (SELECT 1 FROM accounts WHERE id = p_accounts[i]) THEN
              RAISE EXCEPTION 'account % does not exist', p_accounts[i]
                USING ERRCODE = 'foreign_key_violation';
            END IF;
            IF EXISTS (SELECT 1 FROM accounts WHERE id = p_accounts[i] AND last_booked_on >
                p_on) THEN
              RETURN 'backdated:' || p_accounts[i];
            END IF;
            RETURN 'insufficient:' || p_accounts[i];
          END IF;
        ELSE
          UPDATE accounts
             SET balance_fen = balance_fen + p_deltas[i], last_booked_on =
                 greatest(last_booked_on, p_on)
           WHERE id = p_accounts[i];
          IF NOT FOUND THEN
            RAISE EXCEPTION 'account % does not exist', p_accounts[i]
              USING ERRCODE = 'foreign_key_violation';
          END IF;
        END IF;
      END LOOP;
      PERFORM pg_advisory_xact_lock(658711);  -- fupin_kit.audit.AUDIT_LOCK_KEY (0xA0D17)
      SELECT hash INTO previous FROM audit_log ORDER BY seq DESC LIMIT 1;
      previous := coalesce(previous, repeat('0', 64));
      INSERT INTO audit_log (occurred_at, actor, action, object_type, object_id, details,
          digest, prev_hash, hash)
      VALUES (
        p_occurred, p_actor, p_action, p_object_type, p_object_id, p_details::jsonb, p_digest,
            previous,
        encode(sha256(convert_to(concat_ws(chr(31), previous, p_occurred_text, p_actor, p_action,
          p_object_type, p_object_id, p_digest), 'UTF8')), 'hex')
      );
      RETURN NULL;
    END $$
    """,
    # A refusal aborts the commit with a check violation naming why (the constraint name), the
    # account (message) and the request field to blame (detail); the service turns it into the
    # same problem a refusal at posting time gives.
    """
    CREATE FUNCTION ledger_settle() RETURNS trigger LANGUAGE plpgsql AS $$
    DECLARE
      refused text;
    BEGIN
      refused := ledger_post(NEW.accounts, NEW.deltas, NEW.booked_on, NEW.actor, NEW.action,
        'ledger_entry', NEW.entry_id, NEW.details, NEW.digest, NEW.occurred_at,
        NEW.occurred_text);
      IF refused LIKE 'insufficient:%' THEN
        RAISE EXCEPTION '%', refused USING ERRCODE = 'check_violation',
          CONSTRAINT = 'ledger_sufficient_funds', DETAIL = NEW.amount_pointer;
      ELSIF refused IS NOT NULL THEN
        RAISE EXCEPTION '%', refused USING ERRCODE = 'check_violation',
          CONSTRAINT = 'ledger_booking_order', DETAIL = NEW.date_pointer;
      END IF;
      DELETE FROM ledger_settlements WHERE entry_id = NEW.entry_id;
      RETURN NULL;
    END $$
    """,
    """
    CREATE CONSTRAINT TRIGGER ledger_settle_at_commit AFTER INSERT ON ledger_settlements
      DEFERRABLE INITIALLY DEFERRED FOR EACH ROW WHEN (NEW.settle_at_commit)
      EXECUTE FUNCTION ledger_settle()
    """,
    """
    CREATE TRIGGER ledger_settle_now AFTER INSERT ON ledger_settlements
      FOR EACH ROW WHEN (NOT NEW.settle_at_commit) EXECUTE FUNCTION ledger_settle()
    """,
]


def downgrade() -> None:
    op.execute("DROP TRIGGER IF EXISTS ledger_settle_now ON ledger_settlements")
    op.execute("DROP TRIGGER IF EXISTS ledger_settle_at_commit ON ledger_settlements")
    op.execute("DROP FUNCTION IF EXISTS ledger_settle()")
    op.drop_table("ledger_settlements")
    op.execute("DROP TRIGGER IF EXISTS accounts_no_truncate ON accounts")
    op.execute("DROP TRIGGER IF EXISTS accounts_never_deleted ON accounts")
    for table, constraint in FOREIGN_KEYS:
        column = constraint.removeprefix(f"fk_{table}_").removesuffix("_accounts")
        op.create_foreign_key(constraint, table, "accounts", [column], ["id"])
    # ledger_post keeps its existence checks: they refuse only what the keys refused.
