"""The responsible cadre (帮扶责任人) of each household, learned from the teams service."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from fupin_events.envelope import CloudEvent
from fupin_events.teams import CadrePaired
from fupin_kit.logging import get_logger
from fupin_registry.config import Settings
from fupin_registry.households.repository import HouseholdRepository
from fupin_registry.households.service import HouseholdService
from fupin_registry.privacy import Privacy
from fupin_registry.regions.directory import RegionDirectory

log = get_logger("fupin.registry.pairing")


class UnknownHousehold(Exception):
    """The pairing names a household the register does not hold: dead-lettered for review."""


class PairingService:
    def __init__(
        self,
        session: AsyncSession,
        *,
        privacy: Privacy,
        regions: RegionDirectory,
        settings: Settings,
    ) -> None:
        self.households = HouseholdRepository(session)
        self.service = HouseholdService(
            session, privacy=privacy, regions=regions, settings=settings
        )

    async def cadre_paired(self, event: CloudEvent[Any]) -> bool:
        """Show the cadre on the household; True when the household changed. A pairing older
        than the one shown (redelivered or out of order) changes nothing."""
        data: CadrePaired = event.data
        try:
            household_id = uuid.UUID(data.household_id)
        except ValueError as exc:
            raise UnknownHousehold(f"household id {data.household_id!r} is not a UUID") from exc
        household = await self.households.get(household_id, for_update=True)
        if household is None or household.village_code != data.village_code:
            raise UnknownHousehold(f"no household {household_id} in village {data.village_code}")
        changed = await self.service.set_cadre(
            household,
            data.cadre_id,
            data.cadre_display_name,
            data.paired_on,
            actor=f"service:{event.source.rsplit('/', 1)[-1]}",
        )
        log.info("pairing.applied", household_id=str(household_id), changed=changed)
        return changed
