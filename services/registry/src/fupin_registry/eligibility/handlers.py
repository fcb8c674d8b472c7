"""The two operations, independent of how the request arrived: parsed body in, JSON bytes out.

Both the raw ASGI fast path and the declared FastAPI routes call these, so the checks a
request passes (batch size, rate limit) and the answer are the same whichever path serves it.
"""

from __future__ import annotations

from fupin_kit.auth import Caller
from fupin_kit.problems import Unprocessable
from fupin_registry.eligibility.runtime import EligibilityRuntime
from fupin_registry.eligibility.schemas import EligibilityBatchCreate, EligibilityCheckCreate


def _client(caller: Caller) -> str:
    # As the audit trail names callers: a user whose subject equals a bank's client id never
    # shares (or drains) that bank's bucket.
    return caller.actor


async def answer_one(
    runtime: EligibilityRuntime, caller: Caller, body: EligibilityCheckCreate
) -> bytes:
    await runtime.limiter.charge(_client(caller), 1)
    return await runtime.service.check(caller, body)


async def answer_batch(
    runtime: EligibilityRuntime, caller: Caller, body: EligibilityBatchCreate
) -> bytes:
    if len(body.items) > runtime.batch_max:
        raise Unprocessable("#/body/items", f"a batch holds at most {runtime.batch_max} items")
    await runtime.limiter.charge(_client(caller), len(body.items))
    return await runtime.service.check_many(caller, body.items)
