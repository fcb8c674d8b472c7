from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Path

from fupin_funds.allocations.models import Allocation
from fupin_funds.allocations.repository import AllocationRepository
from fupin_funds.common.auth import CallerDep
from fupin_kit.db import SessionDep
from fupin_kit.problems import NotFound

AllocationId = Annotated[str, Path(min_length=1, max_length=64)]


async def load_allocation(
    allocation_id: AllocationId, session: SessionDep, caller: CallerDep
) -> Allocation:
    allocation = await AllocationRepository(session).get(allocation_id)
    if allocation is None or not caller.sees(allocation.parent_region):
        # Children may read the allocations that concern them only through the public notice.
        raise NotFound("allocation not found")
    return allocation


async def load_allocation_for_update(
    allocation_id: AllocationId, session: SessionDep, caller: CallerDep
) -> Allocation:
    allocation = await AllocationRepository(session).get(allocation_id, lock=True)
    if allocation is None or not caller.sees(allocation.parent_region):
        raise NotFound("allocation not found")
    return allocation


AllocationDep = Annotated[Allocation, Depends(load_allocation)]
LockedAllocationDep = Annotated[Allocation, Depends(load_allocation_for_update)]
