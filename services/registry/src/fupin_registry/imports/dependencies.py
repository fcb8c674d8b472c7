"""Loading an import job checks the caller's jurisdiction (404 outside it)."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import Depends, Request

from fupin_kit.auth import CallerDep
from fupin_kit.db import SessionDep
from fupin_kit.problems import NotFound
from fupin_registry.config import Settings
from fupin_registry.imports.models import ImportJob
from fupin_registry.imports.repository import ImportRepository
from fupin_registry.imports.service import is_stale


async def load_job(
    job_id: uuid.UUID, request: Request, session: SessionDep, caller: CallerDep
) -> ImportJob:
    repository = ImportRepository(session)
    job = await repository.get_job(job_id)
    if job is None:
        raise NotFound("import job not found")
    caller.require_region(job.region_code, "import job")
    settings: Settings = request.app.state.settings
    if is_stale(job, settings):
        await repository.set_job(
            job.id,
            state="failed",
            failure_reason="interrupted (the service stopped); upload the file again: rows already"
            " committed are recognised and counted unchanged",
        )
        job = await repository.get_job(job_id)
        assert job is not None
    return job


ImportJobDep = Annotated[ImportJob, Depends(load_job)]
