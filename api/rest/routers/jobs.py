"""GET /v1/jobs/{job_id}: an upload job's status, progress and per-file errors."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path

from api.client.schemas import JOB_ID_PATTERN, ErrorResponse, JobResponse
from api.rest.deps import ReadAccess, State
from api.rest.errors import ApiError

router = APIRouter(prefix="/v1/jobs", tags=["jobs"])


@router.get(
    "/{job_id}",
    response_model=JobResponse,
    responses={code: {"model": ErrorResponse} for code in (401, 403, 404, 422)},
)
def get_job(job_id: Annotated[str, Path(pattern=JOB_ID_PATTERN)], state: State, _: ReadAccess) -> JobResponse:
    """Status (queued | running | succeeded | partial | failed), progress and each file's outcome."""
    job = state.jobs.get(job_id)
    if job is None:
        raise ApiError(404, f"no job {job_id}")
    return job
