"""Region code validation against the reference table: shape and existence."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncSession

from fupin_funds.regions.models import Region
from fupin_funds.regions.repository import RegionRepository
from fupin_kit.problems import Unprocessable


async def require_region(session: AsyncSession, code: str, pointer: str) -> Region:
    region = await RegionRepository(session).get(code)
    if region is None:
        raise Unprocessable(pointer, f"region {code} does not exist in the division codes")
    return region


async def require_regions(session: AsyncSession, codes: Sequence[str], pointer: str) -> None:
    known = await RegionRepository(session).existing(codes)
    for index, code in enumerate(codes):
        if code not in known:
            raise Unprocessable(
                f"{pointer}/{index}", f"region {code} does not exist in the division codes"
            )


def is_within(code: str, ancestor: str) -> bool:
    return code.startswith(ancestor)
