"""Liveness, readiness, metrics, and the index status."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, PlainTextResponse

from api.client.schemas import ErrorResponse, HealthResponse, ReadyResponse, StatusResponse
from api.rest.deps import ReadAccess, State
from api.rest.errors import error_response

router = APIRouter(tags=["health"])
PROMETHEUS_TEXT = "text/plain; version=0.0.4; charset=utf-8"


@router.get("/healthz", response_model=HealthResponse)
def healthz() -> HealthResponse:
    """The process is up."""
    return HealthResponse(status="ok")


@router.get("/readyz", response_model=ReadyResponse, responses={503: {"model": ErrorResponse}})
def readyz(request: Request) -> ReadyResponse | JSONResponse:
    """Ready to serve: the index answers, the models are loaded, the job thread runs and the disk has room."""
    state = getattr(request.app.state, "vtrag", None)
    checks = {"index": "not open", "jobs": "not running", "disk": "unknown"}
    if state is not None:
        try:
            state.service.store().get_doc("0" * 64)
            checks["index"] = "ok"
        except Exception as exc:  # any failure means not ready; the message says why
            checks["index"] = f"error: {exc}"
        checks["jobs"] = "ok" if state.jobs.alive else "not running"
        checks["disk"] = state.disk.check()
    if all(v == "ok" for v in checks.values()):
        return ReadyResponse(status="ready", checks=checks)
    return error_response(503, "unavailable", "not ready", checks)


@router.get(
    "/metrics",
    response_class=PlainTextResponse,
    response_model=None,
    responses={200: {"content": {PROMETHEUS_TEXT: {}}, "description": "Prometheus text format."}},
)
def metrics(state: State) -> PlainTextResponse:
    """Prometheus metrics: request latency, pages indexed, fallbacks, guard trips, jobs."""
    gauges = {"vtrag_jobs_queued": ("Upload jobs waiting to run.", float(state.jobs.queued()))}
    return PlainTextResponse(state.metrics.render(gauges), media_type=PROMETHEUS_TEXT)


@router.get("/v1/status", response_model=StatusResponse, responses={401: {"model": ErrorResponse}})
def status(state: State, _: ReadAccess) -> StatusResponse:
    """Documents, pages and bytes of the complete documents in the index."""
    stats = state.service.status()
    return StatusResponse(**stats.model_dump(exclude={"index"}), jobs_queued=state.jobs.queued())
