"""HTTP routes of the bank eligibility API (贴息贷款资格核验).

These declarations are what the OpenAPI document describes. In the running app the same
operations are served first by the raw ASGI endpoints of ``endpoint.py`` (installed by
``main.py``); both paths call ``handlers.py``.
"""

from fastapi import APIRouter, Response

from fupin_kit.problems import problem_responses
from fupin_registry.eligibility.dependencies import EligibilityContextDep
from fupin_registry.eligibility.handlers import answer_batch, answer_one
from fupin_registry.eligibility.schemas import (
    EligibilityBatchCreate,
    EligibilityBatchRead,
    EligibilityCheckCreate,
    EligibilityCheckRead,
)

router = APIRouter(prefix="/v1/eligibility", tags=["eligibility"])

_PROBLEMS = problem_responses(401, 403, 413, 422, 429, 503)


@router.post(
    "/checks",
    summary="Is this person eligible for a subsidised loan?",
    description=(
        "Requires the `eligibility:check` scope. Answers yes/no with a reason code, a decision id "
        "and the date until which the answer holds, and nothing else about the person. A person "
        "outside the bank's jurisdiction is answered like one absent from the register "
        "(`not_found`). Every check is in the audit trail before the answer is returned."
    ),
    response_model=EligibilityCheckRead,
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
) -> Response:
    answer = await answer_one(context.runtime, context.caller, body)
    return Response(answer, media_type="application/json")


@router.post(
    "/checks/batch",
    summary="Check many people at once (answers in request order)",
    description=(
        "Up to `eligibility_batch_max` items (default 1,000). Each item counts against the rate "
        "limit and gets its own decision id; the batch's one audit record lists every check "
        "before the answers are returned."
    ),
    response_model=EligibilityBatchRead,
    responses=_PROBLEMS,
)
async def check_eligibility_batch(
    body: EligibilityBatchCreate, context: EligibilityContextDep
) -> Response:
    answer = await answer_batch(context.runtime, context.caller, body)
    return Response(answer, media_type="application/json")
