"""funds and the double-entry ledger

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "funds",
        sa.Column("id", sa.Text(), nullable=False),
        sa.Column("region_code", sa.Text(), nullable=False),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("created_by", sa.Text(), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_funds")),
    )
    op.create_index(
        "uq_funds_region_source_year", "funds", ["region_code", "source", "year"], unique=True
    )
    op.create_table(
        "accounts",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column("region_code", sa.Text(), nullable=False),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("ref_id", sa.Text(), nullable=False),
        sa.Column("normal_side", sa.Text(), nullable=False),
        sa.Column("balance_fen", sa.BigInteger(), nullable=False),
        sa.Column("last_booked_on", sa.Date(), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "normal_side IN ('debit', 'credit')", name=op.f("ck_accounts_normal_side")
        ),
        sa.CheckConstraint("balance_fen >= 0", name=op.f("ck_accounts_balance_not_negative")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_accounts")),
    )
    op.create_index("ix_accounts_region_code", "accounts", ["region_code"], unique=False)
    op.create_index(
        "uq_accounts_identity",
        "accounts",
        ["kind", "region_code", "source", "year", "ref_id"],
        unique=True,
    )
    op.create_table(
        "ledger_entries",
        sa.Column("id", sa.Text(), nullable=False),
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column("booked_on", sa.Date(), nullable=False),
        sa.Column("amount_fen", sa.BigInteger(), nullable=False),
        sa.Column("debit_account_id", sa.BigInteger(), nullable=False),
        sa.Column("credit_account_id", sa.BigInteger(), nullable=False),
        sa.Column("debit_region", sa.Text(), nullable=False),
        sa.Column("credit_region", sa.Text(), nullable=False),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("project_id", sa.Text(), nullable=True),
        sa.Column("household_id", sa.Text(), nullable=True),
        sa.Column("loan_id", sa.Text(), nullable=True),
        sa.Column("allocation_id", sa.Text(), nullable=True),
        sa.Column("reverses_entry_id", sa.Text(), nullable=True),
        sa.Column("memo", sa.Text(), nullable=True),
        sa.Column("actor", sa.Text(), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint("amount_fen > 0", name=op.f("ck_ledger_entries_amount_positive")),
        sa.CheckConstraint(
            "debit_account_id <> credit_account_id", name=op.f("ck_ledger_entries_two_accounts")
        ),
        sa.ForeignKeyConstraint(
            ["credit_account_id"],
            ["accounts.id"],
            name=op.f("fk_ledger_entries_credit_account_id_accounts"),
        ),
        sa.ForeignKeyConstraint(
            ["debit_account_id"],
            ["accounts.id"],
            name=op.f("fk_ledger_entries_debit_account_id_accounts"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ledger_entries")),
    )
    op.create_index(
        "ix_ledger_entries_allocation_id", "ledger_entries", ["allocation_id"], unique=False
    )
    op.create_index(
        "ix_ledger_entries_household_id", "ledger_entries", ["household_id"], unique=False
    )
    op.create_index("ix_ledger_entries_loan_id", "ledger_entries", ["loan_id"], unique=False)
    op.create_index("ix_ledger_entries_project_id", "ledger_entries", ["project_id"], unique=False)
    op.create_index(
        "uq_ledger_entries_reverses", "ledger_entries", ["reverses_entry_id"], unique=True
    )
    op.create_table(
        "ledger_postings",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("entry_id", sa.Text(), nullable=False),
        sa.Column("account_id", sa.BigInteger(), nullable=False),
        sa.Column("side", sa.Text(), nullable=False),
        sa.Column("amount_fen", sa.BigInteger(), nullable=False),
        sa.Column("booked_on", sa.Date(), nullable=False),
        sa.CheckConstraint("side IN ('debit', 'credit')", name=op.f("ck_ledger_postings_side")),
        sa.CheckConstraint("amount_fen > 0", name=op.f("ck_ledger_postings_amount_positive")),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name=op.f("fk_ledger_postings_account_id_accounts")
        ),
        sa.ForeignKeyConstraint(
            ["entry_id"],
            ["ledger_entries.id"],
            name=op.f("fk_ledger_postings_entry_id_ledger_entries"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ledger_postings")),
    )
    op.create_index(
        "ix_ledger_postings_account", "ledger_postings", ["account_id", "booked_on"], unique=False
    )
    op.create_index("ix_ledger_postings_entry_id", "ledger_postings", ["entry_id"], unique=False)

    for statement in LEDGER_SQL:
        op.execute(statement)


LEDGER_SQL = [
    # Entries and postings are immutable: corrections are reversing entries.
    """
    CREATE FUNCTION ledger_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      RAISE EXCEPTION '% is append-only: % refused', TG_TABLE_NAME, TG_OP USING ERRCODE =
          'insufficient_privilege';
    END $$
    """,
    """
    CREATE TRIGGER ledger_entries_immutable BEFORE UPDATE OR DELETE ON ledger_entries
      FOR EACH ROW EXECUTE FUNCTION ledger_refuse_change()
    """,
    """
    CREATE TRIGGER ledger_entries_no_truncate BEFORE TRUNCATE ON ledger_entries
      FOR EACH STATEMENT EXECUTE FUNCTION ledger_refuse_change()
    """,
    """
    CREATE TRIGGER ledger_postings_immutable BEFORE UPDATE OR DELETE ON ledger_postings
      FOR EACH ROW EXECUTE FUNCTION ledger_refuse_change()
    """,
    """
    CREATE TRIGGER ledger_postings_no_truncate BEFORE TRUNCATE ON ledger_postings
      FOR EACH STATEMENT EXECUTE FUNCTION ledger_refuse_change()
    """,
    # The contended half of a posting in one round trip: balance moves (accounts in id order so
    # opposite transfers cannot deadlock; every decrease is the single conditional UPDATE that can
    # never overdraw), then the audit record appended to the kit's hash chain under the kit's lock
    # with the kit's hash: sha256 of prev|occurred|actor|action|type|id|digest joined by 0x1f.
    """
    CREATE FUNCTION ledger_post(
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
]


def downgrade() -> None:
    op.execute(
        "DROP FUNCTION IF EXISTS ledger_post(bigint[], bigint[], date, text, text, text, text, "
        "text, text, timestamptz, text)"
    )
    op.drop_table("ledger_postings")
    op.drop_table("ledger_entries")
    op.drop_table("accounts")
    op.execute("DROP FUNCTION IF EXISTS ledger_refuse_change()")
    op.drop_table("funds")
