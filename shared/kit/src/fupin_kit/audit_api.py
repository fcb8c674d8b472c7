"""``GET /v1/audit/verify``: the service's audit chain checked over HTTP, for its admins.

Every digest and link is recomputed (``fupin_kit.audit.verify_chain``), so the request takes as
long as a scan of the chain; the anchors on Kafka are checked by ``fupin-audit verify``.
"""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel, Field

from fupin_kit.audit import verify_chain
from fupin_kit.auth import CallerDep
from fupin_kit.db import SessionDep
from fupin_kit.problems import problem_responses

PROBLEMS_SHOWN = 100
router = APIRouter(tags=["audit"])


class AuditVerification(BaseModel):
    checked: int = Field(description="rows of the chain checked")
    unsigned: int = Field(
        description="of them, rows written before the chain was keyed (plain SHA-256)"
    )
    ok: bool
    problems: list[str] = Field(description=f"the first {PROBLEMS_SHOWN} problems found")


@router.get(
    "/v1/audit/verify",
    responses=problem_responses(401, 403),
    summary="Verify the hash-chained audit trail (admin)",
)
async def verify_audit(session: SessionDep, caller: CallerDep) -> AuditVerification:
    caller.require_role("admin")
    report = await verify_chain(await session.connection())
    return AuditVerification(
        checked=report.checked,
        unsigned=report.unsigned,
        ok=report.ok,
        problems=report.problems[:PROBLEMS_SHOWN],
    )
