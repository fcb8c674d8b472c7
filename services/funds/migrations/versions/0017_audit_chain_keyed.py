"""audit_log.key_id: the chain's hashes are HMACs under a key kept outside the database
(fupin_kit.audit.AuditKeys); rows already written keep their plain SHA-256. The ledger's own
server functions (``ledger_post`` of revision 0006, ``ledger_post_batch`` of revision 0011) sign
their audit records with the session's key (``audit_keyed_hash``).

Revision ID: 0017
Revises: 0016
"""

import importlib.util
from pathlib import Path
from types import ModuleType

from alembic import op

from fupin_kit.migrations import key_audit_chain, unkey_audit_chain

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def _revision(filename: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(filename, Path(__file__).with_name(filename))
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _replace(sql: str, old: str, new: str) -> str:
    assert sql.count(old) == 1, f"revision text changed: {old!r}"
    return sql.replace(old, new)


def _ledger_post_0006() -> str:
    [sql] = [
        s
        for s in _revision("0006_ledger_settlement_at_commit.py").SETTLEMENT_SQL
        if "FUNCTION ledger_post(" in s
    ]
    return sql


def _post_batch_0011() -> str:
    return str(_revision("0011_ledger_batch_project_states.py").POST_BATCH_SQL)


def _ledger_post_keyed() -> str:
    sql = _replace(
        _ledger_post_0006(),
        "          digest, prev_hash, hash)\n",
        "          digest, prev_hash, hash, key_id)\n",
    )
    return _replace(
        sql,
        "        encode(sha256(convert_to(concat_ws(chr(31), previous, p_occurred_text, p_actor,"
        " p_action,\n          p_object_type, p_object_id, p_digest), 'UTF8')), 'hex')\n",
        "        audit_keyed_hash(concat_ws(chr(31), previous, p_occurred_text, p_actor,"
        " p_action,\n          p_object_type, p_object_id, p_digest)), audit_key_id()\n",
    )


def _post_batch_keyed() -> str:
    sql = _replace(
        _post_batch_0011(),
        "    digest := encode(sha256(convert_to(concat_ws(chr(31), previous, p_occurred_texts[i],\n"
        "      p_actors[i], p_actions[i], 'ledger_entry', p_ids[i], p_digests[i]), 'UTF8')),"
        " 'hex');\n",
        "    digest := audit_keyed_hash(concat_ws(chr(31), previous, p_occurred_texts[i],\n"
        "      p_actors[i], p_actions[i], 'ledger_entry', p_ids[i], p_digests[i]));\n",
    )
    sql = _replace(
        sql,
        "    INSERT INTO audit_log (occurred_at, actor, action, object_type, object_id, details,"
        " digest,\n        prev_hash, hash)\n",
        "    INSERT INTO audit_log (occurred_at, actor, action, object_type, object_id, details,"
        " digest,\n        prev_hash, hash, key_id)\n",
    )
    return _replace(
        sql,
        "        p_details[i]::jsonb, p_digests[i], previous, digest);\n",
        "        p_details[i]::jsonb, p_digests[i], previous, digest, audit_key_id());\n",
    )


def upgrade() -> None:
    key_audit_chain(server_append=False)
    op.execute(_ledger_post_keyed())
    op.execute(_post_batch_keyed())


def downgrade() -> None:
    op.execute(_ledger_post_0006())
    op.execute(_post_batch_0011())
    unkey_audit_chain(server_append=False)
