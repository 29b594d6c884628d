"""FastAPI dependencies and their `Annotated` aliases: the server state, the service, access checks."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request, Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from api.rest.auth import Access, check_access
from api.rest.errors import ApiError
from api.rest.state import ServerState
from api.service.facade import Service
from api.settings import Settings

# auto_error=False: our own 401/403 in the API's error shape; the scheme still shows in OpenAPI.
_bearer = HTTPBearer(auto_error=False, description="An API key: `Authorization: Bearer <key>`.")


def get_state(request: Request) -> ServerState:
    state = getattr(request.app.state, "vtrag", None)
    if state is None:
        raise ApiError(503, "the server is starting", type="unavailable", headers={"Retry-After": "1"})
    return state


State = Annotated[ServerState, Depends(get_state)]


def get_service(state: State) -> Service:
    return state.service


def get_settings_dep(state: State) -> Settings:
    return state.settings


ServiceDep = Annotated[Service, Depends(get_service)]
SettingsDep = Annotated[Settings, Depends(get_settings_dep)]


def _credentials(request: Request, credentials: HTTPAuthorizationCredentials | None) -> str | None:
    return request.headers.get("authorization") if credentials is not None else None


def _require(
    kind: Access, request: Request, state: State, credentials: HTTPAuthorizationCredentials | None
) -> None:
    s = state.settings
    check_access(
        kind,
        _credentials(request, credentials),
        keys=state.keys,
        public_reads=s.public_reads,
        allow_unauthenticated_writes=s.allow_unauthenticated_writes,
    )


def require_read(
    request: Request,
    state: State,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Security(_bearer)],
) -> None:
    _require("read", request, state, credentials)


def require_write(
    request: Request,
    state: State,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Security(_bearer)],
) -> None:
    _require("write", request, state, credentials)


ReadAccess = Annotated[None, Depends(require_read)]
WriteAccess = Annotated[None, Depends(require_write)]
