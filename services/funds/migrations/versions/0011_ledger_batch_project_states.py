"""ledger: a batch posts from a project only while the project takes payments

``ledger_post_batch`` (revision 0007) checked balances and dates, while the project's status had
been read by the request before the batch: a lifecycle step that closed the project (accepted,
evaluated) in that instant let the payment through. The function now locks the projects its
transfers name (FOR SHARE, before the accounts, in the order lifecycle steps lock them) and
refuses a transfer whose project is not announced, in progress or completed (outcome
``closed:<status>``); like every refusal, it writes nothing, its key included.

Revision ID: 0011
Revises: 0010
"""

from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

# Revision 0007's function with slots for what this revision adds; both versions are built from
# it, so the downgrade restores 0007's text exactly.
TEMPLATE = """
CREATE OR REPLACE FUNCTION ledger_post_batch(
  p_callers text[], p_keys text[], p_request_hashes text[], p_responses text[],
  p_ids text[], p_kinds text[], p_booked date[], p_amounts bigint[],
  p_debits bigint[], p_credits bigint[], p_debit_regions text[], p_credit_regions text[],
  p_sources text[], p_years integer[], p_projects text[], p_households text[],
  p_loans text[], p_allocations text[], p_reverses text[], p_memos text[], p_actors text[],
  p_debit_deltas bigint[], p_credit_deltas bigint[],
  p_event_ids text[], p_topics text[], p_event_keys text[], p_event_types text[],
  p_payloads text[],
  p_actions text[], p_details text[], p_digests text[], p_occurred timestamptz[],
  p_occurred_texts text[]
) RETURNS text[] LANGUAGE plpgsql
-- The statements below take arrays; PostgreSQL would otherwise plan them afresh on every call
-- (a custom plan costs more than the whole posting of a small batch).
SET plan_cache_mode = force_generic_plan
AS $$
DECLARE
  n integer := coalesce(array_length(p_ids, 1), 0);
  ids bigint[];
  balances bigint[];
  lasts date[];
  outcome text[] := array_fill(NULL::text, ARRAY[n]);
  accepted integer[] := '{{}}';
  i integer;
  leg integer;
  account bigint;
  delta bigint;
  at integer;
  refused text;
  previous text;
  digest text;
{project_declarations}BEGIN
{project_lock}  SELECT coalesce(array_agg(id ORDER BY id), '{{}}'),
         coalesce(array_agg(balance_fen ORDER BY id), '{{}}'),
         coalesce(array_agg(last_booked_on ORDER BY id), '{{}}')
    INTO ids, balances, lasts
    FROM (SELECT id, balance_fen, last_booked_on FROM accounts
           WHERE id = ANY (p_debits || p_credits) ORDER BY id FOR UPDATE) AS locked;

  FOR i IN 1 .. n LOOP
    IF p_keys[i] IS NOT NULL THEN
      INSERT INTO idempotency_keys (caller, key, request_hash, status_code, response)
      VALUES (p_callers[i], p_keys[i], p_request_hashes[i], 201, p_responses[i]::jsonb)
      ON CONFLICT (caller, key) DO NOTHING;
      IF NOT FOUND THEN
        outcome[i] := 'used';
        CONTINUE;
      END IF;
    END IF;
{check_comment}    refused := NULL;
{project_check}    FOR leg IN 1 .. 2 LOOP
{leg_skip}      account := CASE leg WHEN 1 THEN p_debits[i] ELSE p_credits[i] END;
      delta := CASE leg WHEN 1 THEN p_debit_deltas[i] ELSE p_credit_deltas[i] END;
      at := array_position(ids, account);
      IF at IS NULL THEN
        refused := 'unknown:' || account;
      ELSIF delta < 0 AND lasts[at] > p_booked[i] THEN
        refused := 'backdated:' || account;
      ELSIF delta < 0 AND balances[at] + delta < 0 THEN
        refused := 'insufficient:' || account;
      END IF;
      EXIT WHEN refused IS NOT NULL;
    END LOOP;
    IF refused IS NOT NULL THEN
      outcome[i] := refused;
      IF p_keys[i] IS NOT NULL THEN
        DELETE FROM idempotency_keys WHERE caller = p_callers[i] AND key = p_keys[i];
      END IF;
      CONTINUE;
    END IF;
    FOR leg IN 1 .. 2 LOOP
      at := array_position(ids, CASE leg WHEN 1 THEN p_debits[i] ELSE p_credits[i] END);
      balances[at] := balances[at]
        + CASE leg WHEN 1 THEN p_debit_deltas[i] ELSE p_credit_deltas[i] END;
      lasts[at] := greatest(lasts[at], p_booked[i]);
    END LOOP;
    accepted := accepted || i;
  END LOOP;

  IF cardinality(accepted) = 0 THEN
    RETURN outcome;
  END IF;

  UPDATE accounts AS a SET balance_fen = u.balance, last_booked_on = u.last_booked
    FROM unnest(ids, balances, lasts) AS u(id, balance, last_booked)
   WHERE a.id = u.id
     AND (a.balance_fen <> u.balance OR a.last_booked_on IS DISTINCT FROM u.last_booked);

  INSERT INTO ledger_entries (id, kind, booked_on, amount_fen, debit_account_id,
      credit_account_id, debit_region, credit_region, source, year, project_id, household_id,
      loan_id, allocation_id, reverses_entry_id, memo, actor)
  SELECT p_ids[k], p_kinds[k], p_booked[k], p_amounts[k], p_debits[k], p_credits[k],
         p_debit_regions[k], p_credit_regions[k], p_sources[k], p_years[k], p_projects[k],
         p_households[k], p_loans[k], p_allocations[k], p_reverses[k], p_memos[k], p_actors[k]
    FROM unnest(accepted) WITH ORDINALITY AS a(k, ord) ORDER BY ord;

  INSERT INTO ledger_postings (entry_id, account_id, side, amount_fen, booked_on)
  SELECT p_ids[k], leg.account_id, leg.side, p_amounts[k], p_booked[k]
    FROM unnest(accepted) WITH ORDINALITY AS a(k, ord),
         LATERAL (VALUES (p_debits[k], 'debit', 1), (p_credits[k], 'credit', 2))
           AS leg(account_id, side, n)
   ORDER BY ord, leg.n;

  INSERT INTO outbox (event_id, topic, key, event_type, payload)
  SELECT p_event_ids[k], p_topics[k], p_event_keys[k], p_event_types[k], p_payloads[k]::jsonb
    FROM unnest(accepted) WITH ORDINALITY AS a(k, ord)
   WHERE p_event_ids[k] IS NOT NULL
   ORDER BY ord;

  PERFORM pg_advisory_xact_lock(658711);  -- fupin_kit.audit.AUDIT_LOCK_KEY (0xA0D17)
  SELECT hash INTO previous FROM audit_log ORDER BY seq DESC LIMIT 1;
  previous := coalesce(previous, repeat('0', 64));
  FOREACH i IN ARRAY accepted LOOP
    digest := encode(sha256(convert_to(concat_ws(chr(31), previous, p_occurred_texts[i],
      p_actors[i], p_actions[i], 'ledger_entry', p_ids[i], p_digests[i]), 'UTF8')), 'hex');
    INSERT INTO audit_log (occurred_at, actor, action, object_type, object_id, details, digest,
        prev_hash, hash)
    VALUES (p_occurred[i], p_actors[i], p_actions[i], 'ledger_entry', p_ids[i],
        p_details[i]::jsonb, p_digests[i], previous, digest);
    previous := digest;
  END LOOP;
  RETURN outcome;
END $$
"""

PROJECT_DECLARATIONS = """\
  projects_named text[];
  project_states text[];
"""
PROJECT_LOCK = """\
  -- The projects paid from are locked before their accounts, as a project's lifecycle step locks
  -- them (FOR UPDATE, then any posting): a step that closes a project waits for the batch, or the
  -- batch waits for it and sees the new status. FOR SHARE lets batches of other processes in.
  SELECT coalesce(array_agg(id ORDER BY id), '{}'), coalesce(array_agg(status ORDER BY id), '{}')
    INTO projects_named, project_states
    FROM (SELECT id, status FROM projects
           WHERE id = ANY (p_projects) ORDER BY id FOR SHARE) AS locked_projects;

"""
PROJECT_CHECK = """\
    IF p_projects[i] IS NOT NULL THEN
      at := array_position(projects_named, p_projects[i]);
      -- fupin_funds.projects.lifecycle.MONEY_STATES
      IF at IS NULL THEN
        refused := 'closed:unknown';
      ELSIF project_states[at] NOT IN ('announced', 'in_progress', 'completed') THEN
        refused := 'closed:' || project_states[at];
      END IF;
    END IF;
"""
CHECK_COMMENT = (
    "    -- Check the project and both legs before changing anything, so a refusal changes"
    " nothing.\n"
)
LEG_SKIP = "      EXIT WHEN refused IS NOT NULL;\n"

POST_BATCH_SQL = TEMPLATE.format(
    project_declarations=PROJECT_DECLARATIONS,
    project_lock=PROJECT_LOCK,
    project_check=PROJECT_CHECK,
    check_comment=CHECK_COMMENT,
    leg_skip=LEG_SKIP,
)
# Revision 0007's function, as it was.
POST_BATCH_0007_SQL = TEMPLATE.format(
    project_declarations="",
    project_lock="",
    project_check="",
    check_comment=(
        "    -- Check both legs before changing either, so that a refusal changes nothing.\n"
    ),
    leg_skip="",
)


def upgrade() -> None:
    op.execute(POST_BATCH_SQL)


def downgrade() -> None:
    op.execute(POST_BATCH_0007_SQL)
