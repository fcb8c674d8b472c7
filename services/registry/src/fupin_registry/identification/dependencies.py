"""Case loaders that check jurisdiction (404 outside it), and the workflow service."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import Depends, Request

from fupin_kit.auth import CallerDep
from fupin_kit.db import SessionDep
from fupin_kit.problems import NotFound
from fupin_registry.identification.models import Case
from fupin_registry.identification.repository import CaseRepository
from fupin_registry.identification.service import WorkflowService
from fupin_registry.privacy import PrivacyDep
from fupin_registry.regions.directory import RegionsDep

# Named by the loaders' 404s: on an objection's route the path's last parameter is another one.
CASE_IN_PATH = "#/path/case_id"


async def load_case(case_id: uuid.UUID, session: SessionDep, caller: CallerDep) -> Case:
    case = await CaseRepository(session).get(case_id)
    if case is None:
        raise NotFound("case not found", pointer=CASE_IN_PATH)
    caller.require_region(case.village_code, "case", CASE_IN_PATH)
    return case


async def load_case_for_update(case_id: uuid.UUID, session: SessionDep, caller: CallerDep) -> Case:
    """The case, row-locked until the request's transaction ends (steps apply one at a time)."""
    case = await CaseRepository(session).get(case_id, for_update=True)
    if case is None:
        raise NotFound("case not found", pointer=CASE_IN_PATH)
    caller.require_region(case.village_code, "case", CASE_IN_PATH)
    return case


CaseDep = Annotated[Case, Depends(load_case)]
CaseForUpdateDep = Annotated[Case, Depends(load_case_for_update)]


def get_workflow_service(
    request: Request, session: SessionDep, privacy: PrivacyDep, regions: RegionsDep
) -> WorkflowService:
    return WorkflowService(
        session, privacy=privacy, regions=regions, settings=request.app.state.settings
    )


WorkflowServiceDep = Annotated[WorkflowService, Depends(get_workflow_service)]
