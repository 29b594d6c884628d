"""The gate every request passes before the app reads a byte of its body.

FastAPI reads (and spools to disk) a multipart body before a route's dependencies run, so an access check in
a dependency comes too late: an anonymous client could make the server write hundreds of MiB first. Here, in
ASGI, in this order and without calling `receive`:
1. access: the route's access class (open, read, write) and the Authorization header — 401/403;
2. the declared Content-Length against the route's limit — 413;
3. uploads already in progress against the cap — 429 with Retry-After.
Then the body is counted as it streams: past the limit, whatever the app was about to answer is replaced by
a 413 (FastAPI would turn the failing read into a 400 of its own).
"""

from __future__ import annotations

from collections.abc import Callable

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.rest.auth import Access, RouteAccess
from api.rest.errors import ApiError
from api.rest.middleware import send_json_error

UPLOAD_RETRY_AFTER_S = 5


class _TooLarge(Exception):
    pass


class RequestGate:
    """Args:
    app: the wrapped app.
    access_for: scope -> "open" | "read" | "write" (api/rest/access.py).
    check: (access, Authorization header or None) -> None; raises the 401/403 ApiError (api/rest/auth.py).
    limit_for: (method, path) -> (body limit in bytes, whether the request is an upload).
    max_uploads: uploads that may be received at once.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        access_for: Callable[[Scope], RouteAccess],
        check: Callable[[Access, str | None], None],
        limit_for: Callable[[str, str], tuple[int, bool]],
        max_uploads: int,
    ) -> None:
        self.app = app
        self.access_for = access_for
        self.check = check
        self.limit_for = limit_for
        self.max_uploads = max_uploads
        self.uploads = 0  # one event loop runs every request: a plain counter is enough

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        access = self.access_for(scope)
        if access != "open":
            try:
                self.check(access, _header(scope, b"authorization"))
            except ApiError as exc:
                await send_json_error(send, exc.status, exc.type, exc.message, exc.detail, exc.headers)
                return
        limit, upload = self.limit_for(scope["method"], scope["path"])
        declared = _content_length(scope)
        if declared is not None and declared > limit:
            await _too_large(send, limit)
            return
        if not upload:
            await self._counted(scope, receive, send, limit)
            return
        if self.uploads >= self.max_uploads:
            await send_json_error(
                send,
                429,
                "rate_limited",
                f"{self.uploads} uploads are already being received; retry later",
                {"limit_uploads": self.max_uploads},
                {"Retry-After": str(UPLOAD_RETRY_AFTER_S)},
            )
            return
        self.uploads += 1
        try:
            await self._counted(scope, receive, send, limit)
        finally:
            self.uploads -= 1

    async def _counted(self, scope: Scope, receive: Receive, send: Send, limit: int) -> None:
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
                    await _too_large(send, limit)
                return  # drop the app's own answer to the cut-off body
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, guarded_send)
        except _TooLarge:
            if not started:
                await _too_large(send, limit)


async def _too_large(send: Send, limit: int) -> None:
    await send_json_error(
        send, 413, "payload_too_large", "the request body is too large", {"limit_bytes": limit}
    )


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key == name:
            return bytes(value).decode("latin-1")
    return None


def _content_length(scope: Scope) -> int | None:
    value = _header(scope, b"content-length")
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None
