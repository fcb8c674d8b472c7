from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Path

from fupin_funds.common.auth import CallerDep
from fupin_funds.projects.models import Project
from fupin_funds.projects.repository import ProjectRepository
from fupin_kit.db import SessionDep
from fupin_kit.problems import NotFound

ProjectId = Annotated[str, Path(min_length=1, max_length=64)]


async def load_project(project_id: ProjectId, session: SessionDep, caller: CallerDep) -> Project:
    project = await ProjectRepository(session).get(project_id)
    if project is None:
        raise NotFound("project not found")
    caller.require_region(project.region_code, "project")
    return project


async def load_project_for_update(
    project_id: ProjectId, session: SessionDep, caller: CallerDep
) -> Project:
    project = await ProjectRepository(session).get(project_id, lock=True)
    if project is None:
        raise NotFound("project not found")
    caller.require_region(project.region_code, "project")
    return project


ProjectDep = Annotated[Project, Depends(load_project)]
LockedProjectDep = Annotated[Project, Depends(load_project_for_update)]
