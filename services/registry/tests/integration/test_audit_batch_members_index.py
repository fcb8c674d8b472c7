"""The checks about one person are found through the index of batch records' members
(``ix_audit_log_batch_members``), not by reading every batch record of the audit chain."""

from __future__ import annotations

import json
import uuid

from sqlalchemy import text

from fupin_registry.eligibility.repository import CHECKS_ABOUT
from fupin_registry.households.domain import EXPORTED_STATUSES
from fupin_registry.households.repository import _ACCESS_LOG

BATCHES = 2_000
PER_BATCH = 20

# Batch records as the eligibility service writes them (columns of equal length), with members
# no one looks for, and one record whose second item is about the person looked for.
_FAKE_BATCHES = text(
    """
INSERT INTO audit_log (occurred_at, actor, action, object_type, object_id, details, digest,
                       prev_hash, hash)
SELECT now(), 'client:bank', 'eligibility.check', 'eligibility_batch', 'b' || n,
       jsonb_build_object(
         'members', CASE WHEN n = :wanted_batch
                         THEN jsonb_build_array(md5('x' || n), CAST(:wanted AS text))
                         ELSE (SELECT jsonb_agg(md5(n || '/' || i))
                               FROM generate_series(1, :per_batch) AS i) END,
         'decision_ids', jsonb_build_array('d1', 'd2'),
         'eligible', jsonb_build_array(true, false),
         'reason_codes', jsonb_build_array('ELIGIBLE', 'NOT_REGISTERED'),
         'valid_until', jsonb_build_array(null, null),
         'purposes', jsonb_build_array('p', 'p'),
         'consent_references', jsonb_build_array('c', 'c')),
       md5('d' || n), md5('p' || n), CAST(:run AS text) || n
FROM generate_series(1, :batches) AS n
"""
)


_SECOND_ITEM = {
    "decision_id": "d2",
    "eligible": False,
    "reason_code": "NOT_REGISTERED",
    "valid_until": None,
    "purpose": "p",
    "consent_reference": "c",
}


async def _plan(session, sql: str, params: dict) -> str:
    rows = await session.execute(text("EXPLAIN (FORMAT JSON) " + sql), params)
    return json.dumps(rows.scalar_one())


async def _fill(session) -> str:
    wanted = uuid.uuid4().hex * 2  # a blind index in hex, as batch records hold them
    await session.execute(
        _FAKE_BATCHES,
        {
            "wanted": wanted,
            "wanted_batch": BATCHES // 2,
            "per_batch": PER_BATCH,
            "batches": BATCHES,
            "run": uuid.uuid4().hex,
        },
    )
    await session.execute(text("ANALYZE audit_log"))
    return wanted


async def test_the_check_history_reads_only_the_batches_naming_the_person(db_session):
    wanted = await _fill(db_session)
    sql = CHECKS_ABOUT.replace("$1", "CAST(:member AS text)")
    assert "ix_audit_log_batch_members" in await _plan(db_session, sql, {"member": wanted})
    found = (await db_session.execute(text(sql), {"member": wanted})).all()
    checks = [(row.position, row.check) for row in found]
    assert [(p, c if isinstance(c, dict) else json.loads(c)) for p, c in checks] == [
        (2, {**_SECOND_ITEM})
    ]


async def test_the_access_log_reads_only_the_batches_naming_its_people(db_session):
    await _fill(db_session)
    params = {
        "household": uuid.uuid4(),
        "household_text": "none",
        "exported": list(EXPORTED_STATUSES),
        "before_seq": None,
        "before_position": None,
        "limit": 50,
    }
    assert "ix_audit_log_batch_members" in await _plan(db_session, _ACCESS_LOG.text, params)
