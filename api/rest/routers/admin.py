"""POST /v1/admin/compact: optical forgetting over REST (write key), the same as `vtrag index compact`."""

from __future__ import annotations

from fastapi import APIRouter

from api.client.compaction_schemas import CompactRequest, CompactResult
from api.client.schemas import ErrorResponse
from api.rest.deps import State, WriteAccess
from api.rest.errors import ApiError
from api.rest.routers.documents import DELETE_WAIT_S
from api.rest.state import ServerState

router = APIRouter(prefix="/v1/admin", tags=["admin"])


@router.post(
    "/compact",
    response_model=CompactResult,
    responses={400: {"model": ErrorResponse}, 409: {"model": ErrorResponse}, 422: {"model": ErrorResponse}},
)
def compact(body: CompactRequest, state: State, _: WriteAccess) -> CompactResult:
    """Re-encode cold pages in a smaller mode, or keep only their text (`dry_run`: only the plan). Runs in
    the request, holding the index's write lock (uploads wait); use `limit` to keep one call short."""
    if body.dry_run:
        return _run(state, body)
    if not state.write_lock.acquire(timeout=DELETE_WAIT_S):
        busy = "an upload job is writing to the index; retry later"
        raise ApiError(409, busy, headers={"Retry-After": "5"})
    try:
        with state.model_lock:  # the encoder is the answer path's model too
            return _run(state, body)
    finally:
        state.write_lock.release()


def _run(state: ServerState, body: CompactRequest) -> CompactResult:
    try:
        return state.service.compact(body)
    except ValueError as exc:
        raise ApiError(400, str(exc)) from None
