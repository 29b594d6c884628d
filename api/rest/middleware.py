"""ASGI middleware: request body limits (413 before the app reads too much) and request metrics."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.service.metrics import Metrics

log = logging.getLogger("vtrag.api")


class _TooLarge(Exception):
    pass


def _error_body(status: int, type_: str, message: str, detail: object = None) -> bytes:
    return json.dumps({"error": {"type": type_, "message": message, "detail": detail}}).encode()


async def send_json_error(send: Send, status: int, type_: str, message: str, detail: object = None) -> None:
    body = _error_body(status, type_, message, detail)
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class BodyLimitMiddleware:
    """Refuse request bodies over a limit with a 413 in the API's error shape.

    A declared Content-Length over the limit is refused before the app runs; a chunked body is counted as it
    streams, and once it passes the limit whatever the app was about to answer is replaced by the 413
    (FastAPI turns a failing body read into its own 400 otherwise).

    Args:
        app: the wrapped app.
        limit_for: (method, path) -> the limit in bytes for that request.
    """

    def __init__(self, app: ASGIApp, limit_for: Callable[[str, str], int]) -> None:
        self.app = app
        self.limit_for = limit_for

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limit_for(scope["method"], scope["path"])
        detail = {"limit_bytes": limit}
        declared = _content_length(scope)
        if declared is not None and declared > limit:
            await send_json_error(send, 413, "payload_too_large", "the request body is too large", detail)
            return
        seen = 0
        exceeded = False
        started = False

        async def limited_receive() -> Message:
            nonlocal seen, exceeded
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    exceeded = True
                    raise _TooLarge
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if exceeded:
                if message["type"] == "http.response.start" and not started:
                    started = True
                    await send_json_error(
                        send, 413, "payload_too_large", "the request body is too large", detail
                    )
                return  # drop the app's own answer to the cut-off body
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, guarded_send)
        except _TooLarge:
            if not started:
                await send_json_error(send, 413, "payload_too_large", "the request body is too large", detail)


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


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", []):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


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
