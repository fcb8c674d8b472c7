"""The quota service for a request."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from fupin_kit.db import SessionDep
from fupin_registry.quotas.service import QuotaService
from fupin_registry.regions.directory import RegionsDep


def get_quota_service(session: SessionDep, regions: RegionsDep) -> QuotaService:
    return QuotaService(session, regions)


QuotaServiceDep = Annotated[QuotaService, Depends(get_quota_service)]
