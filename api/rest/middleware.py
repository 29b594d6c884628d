"""ASGI middleware: request metrics, the last-resort 500, and errors sent straight from ASGI.

The gate every request passes before the app reads its body (keys, scopes, body limits, uploads at once)
is api/rest/gate.py.
"""

from __future__ import annotations

import json
import logging
import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.service.metrics import Metrics

log = logging.getLogger("vtrag.api")


def _error_body(status: int, type_: str, message: str, detail: object = None) -> bytes:
    return json.dumps({"error": {"type": type_, "message": message, "detail": detail}}).encode()


async def send_json_error(
    send: Send,
    status: int,
    type_: str,
    message: str,
    detail: object = None,
    headers: dict[str, str] | None = None,
) -> None:
    """Answer with an error in the API's shape, straight from ASGI (no app involved)."""
    body = _error_body(status, type_, message, detail)
    raw = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    raw += [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in (headers or {}).items()]
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": body})


class MetricsMiddleware:
    """Observe every HTTP request's latency under its route template (not the raw path)."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500

        async def record_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, record_send)
        finally:
            route = scope.get("route")
            template = getattr(route, "path", None) or "unmatched"
            self.metrics.observe_request(scope["method"], template, status, time.perf_counter() - start)


class UnhandledErrorMiddleware:
    """A bug becomes a 500 in the API's error shape, logged once, and the connection stays usable.

    (Starlette's own last-resort handler re-raises to the server, which then drops the keep-alive
    connection.)
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except Exception:
            log.exception("unhandled error on %s %s", scope.get("method"), scope.get("path"))
            if started:
                raise
            await send_json_error(send, 500, "internal_error", "the server failed to handle the request")
