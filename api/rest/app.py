"""The FastAPI app: `create_app(settings)`. Routers per resource under /v1; OpenAPI at /docs (`docs_access`).

Importing this module loads nothing heavy: the index, the text model and the vision model are opened in the
lifespan, when the server starts.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from starlette.concurrency import run_in_threadpool

from api.rest.access import route_access
from api.rest.auth import Access, check_access
from api.rest.errors import install_error_handlers
from api.rest.gate import RequestGate
from api.rest.middleware import MetricsMiddleware, UnhandledErrorMiddleware
from api.rest.routers import admin, answer, documents, extract, health, jobs, pages, search
from api.rest.state import ServerState
from api.service.facade import Service
from api.service.metrics import Metrics
from api.settings import Settings, get_settings
from api.web import routes as web

log = logging.getLogger("vtrag.api")
MULTIPART_OVERHEAD = 1 << 20  # part headers and boundaries on top of the files themselves


def create_app(settings: Settings | None = None, *, service: Service | None = None) -> FastAPI:
    """The vtrag REST app.

    Args:
        settings: the server's settings (default: `get_settings()`, i.e. VTRAG_* variables).
        service: a ready Service to serve (tests inject one with a tiny vision model); by default one is
            built from the settings when the app starts. The app closes it on shutdown either way.
    """
    settings = settings or get_settings()
    metrics = Metrics()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        svc = service or Service(settings)
        state = await run_in_threadpool(ServerState.start, settings, svc, metrics)
        app.state.vtrag = state
        try:
            yield
        finally:
            app.state.vtrag = None
            await run_in_threadpool(state.stop)

    docs = settings.docs_access != "off"
    app = FastAPI(
        title="vtrag",
        version="0.1.0",
        summary="Vision-token RAG: search, answers with citations, extraction, document uploads.",
        lifespan=lifespan,
        docs_url="/docs" if docs else None,
        redoc_url="/redoc" if docs else None,
        openapi_url="/openapi.json" if docs else None,
    )
    install_error_handlers(app)
    routers = [m.router for m in (search, answer, extract, documents, jobs, pages, health, admin)]
    for router in routers:
        app.include_router(router)
    web.install(app)  # the web page at / (api/web/): open, like /healthz, it holds no data
    routers.append(web.router)

    upload_limit = settings.max_upload_bytes * settings.max_files_per_request + MULTIPART_OVERHEAD
    keys = settings.api_key_entries()

    def body_limit(method: str, path: str) -> tuple[int, bool]:
        if method == "POST" and path.rstrip("/") == "/v1/documents":
            return upload_limit, True
        return settings.max_body_bytes, False

    def check(access: Access, authorization: str | None) -> None:
        check_access(
            access,
            authorization,
            keys=keys,
            public_reads=settings.public_reads,
            allow_unauthenticated_writes=settings.allow_unauthenticated_writes,
        )

    app.add_middleware(UnhandledErrorMiddleware)
    app.add_middleware(
        RequestGate,
        access_for=route_access(app, routers, settings.docs_access),
        check=check,
        limit_for=body_limit,
        max_uploads=settings.max_concurrent_uploads,
    )
    app.add_middleware(MetricsMiddleware, metrics=metrics)  # outermost: 401s, 413s and 429s are measured too
    return app
