"""Which access each request needs, read from the routes themselves, for the gate (api/rest/gate.py).

A route that depends on `require_write` is a write, one that depends on `require_read` a read, any other
route of the app is open (`/healthz`, `/readyz`, `/metrics`, the web page at `/` and its static assets under
`/web/`). The docs routes (`/docs`, `/redoc`, `/openapi.json`) follow the `docs_access` setting. A path no
route matches is treated as a read, so a client without access learns nothing about which paths exist.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from fastapi import APIRouter, FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from starlette.routing import BaseRoute, Match, Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

from api.rest.auth import RouteAccess
from api.rest.deps import require_read, require_write

OPEN: RouteAccess = "open"
READ: RouteAccess = "read"
WRITE: RouteAccess = "write"


def route_access(
    app: FastAPI, routers: Sequence[APIRouter], docs_access: str
) -> Callable[[Scope], RouteAccess]:
    """A function giving the access class ("open", "read", "write") of a request scope.

    Args:
        app: the app (its docs routes).
        routers: the routers the app includes, unprefixed (their routes carry their full paths).
        docs_access: "read" (the docs routes need read access) or "open".
    """
    table: list[tuple[BaseRoute, RouteAccess]] = [
        (route, _declared(route.dependant))
        for router in routers
        for route in router.routes
        if isinstance(route, APIRoute)
    ]
    docs = {app.openapi_url, app.docs_url, app.redoc_url, app.swagger_ui_oauth2_redirect_url} - {None}
    for route in app.routes:
        if isinstance(route, Route) and route.path in docs:
            table.append((route, READ if docs_access == READ else OPEN))
        elif isinstance(route, Mount) and isinstance(route.app, StaticFiles):
            table.append((route, OPEN))  # the web page's assets: code and styles, no data

    def access_for(scope: Scope) -> RouteAccess:
        partial: RouteAccess | None = None
        for route, access in table:
            match, _ = route.matches(scope)
            if match == Match.FULL:
                return access
            if match == Match.PARTIAL and partial is None:
                partial = access  # the path exists, the method does not: a 405 for those with access
        return partial or READ

    return access_for


def _declared(dependant: Dependant) -> RouteAccess:
    calls = set()
    stack = [dependant]
    while stack:
        current = stack.pop()
        calls.add(current.call)
        stack.extend(current.dependencies)
    if require_write in calls:
        return WRITE
    if require_read in calls:
        return READ
    return OPEN
