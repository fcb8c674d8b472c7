from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Path

from fupin_funds.common.auth import CallerDep
from fupin_funds.supervision.models import Anomaly, Finding
from fupin_funds.supervision.repository import SupervisionRepository
from fupin_kit.db import SessionDep
from fupin_kit.problems import NotFound

ObjectId = Annotated[str, Path(min_length=1, max_length=64)]


async def load_finding(finding_id: ObjectId, session: SessionDep, caller: CallerDep) -> Finding:
    finding = await SupervisionRepository(session).finding(finding_id, lock=True)
    if finding is None:
        raise NotFound("finding not found")
    caller.require_region(finding.region_code, "finding")
    return finding


async def load_anomaly(anomaly_id: ObjectId, session: SessionDep, caller: CallerDep) -> Anomaly:
    # Seen in its region, and in the village of the household a payment anomaly is about
    # (supervision.repository.anomalies_within); elsewhere it is 404.
    anomaly = await SupervisionRepository(session).anomaly(
        anomaly_id, within=caller.jurisdiction, lock=True
    )
    if anomaly is None:
        raise NotFound("anomaly not found")
    return anomaly


FindingDep = Annotated[Finding, Depends(load_finding)]
AnomalyDep = Annotated[Anomaly, Depends(load_anomaly)]
