"""HTTP routes of the bank eligibility API (贴息贷款资格核验)."""

from fastapi import APIRouter

from fupin_kit.problems import Unprocessable, problem_responses
from fupin_registry.eligibility.dependencies import EligibilityContextDep
from fupin_registry.eligibility.schemas import (
    EligibilityBatchCreate,
    EligibilityBatchRead,
    EligibilityCheckCreate,
    EligibilityCheckRead,
)

router = APIRouter(prefix="/v1/eligibility", tags=["eligibility"])

_PROBLEMS = problem_responses(401, 403, 422, 429, 503)


@router.post(
    "/checks",
    summary="Is this person eligible for a subsidised loan?",
    description=(
        "Requires the `eligibility:check` scope. Answers yes/no with a reason code, a decision id "
        "and the date until which the answer holds, and nothing else about the person. A person "
        "outside the bank's jurisdiction is answered like one absent from the register "
        "(`not_found`). Every check is in the audit trail before the answer is returned."
    ),
    responses={
        **_PROBLEMS,
        200: {
            "content": {
                "application/json": {
                    "example": {
                        "decision_id": "0b6f3c52-3b0e-4d8e-9a51-2f4f3f7f7d11",
                        "eligible": True,
                        "reason_code": "eligible",
                        "valid_until": "2020-07-01",
                    }
                }
            }
        },
    },
)
async def check_eligibility(
    body: EligibilityCheckCreate, context: EligibilityContextDep
) -> EligibilityCheckRead:
    caller, runtime = context.caller, context.runtime
    runtime.limiter.charge(caller.client_id or caller.subject, 1)
    return await runtime.service.check(caller, body)


@router.post(
    "/checks/batch",
    summary="Check many people at once (answers in request order)",
    description=(
        "Up to `eligibility_batch_max` items (default 1,000). Each item counts against the rate "
        "limit and gets its own decision id and audit record."
    ),
    responses=_PROBLEMS,
)
async def check_eligibility_batch(
    body: EligibilityBatchCreate, context: EligibilityContextDep
) -> EligibilityBatchRead:
    caller, runtime = context.caller, context.runtime
    if len(body.items) > runtime.batch_max:
        raise Unprocessable("#/body/items", f"a batch holds at most {runtime.batch_max} items")
    runtime.limiter.charge(caller.client_id or caller.subject, len(body.items))
    return await runtime.service.check_many(caller, body.items)
