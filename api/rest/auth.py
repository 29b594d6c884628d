"""API keys: `Authorization: Bearer <key>` checked in constant time against the configured keys and scopes.

Keys are configured as plain keys or `sha256:<hex>` digests (VTRAG_API_KEYS), each optionally scoped with a
`read:` or `write:` prefix (a bare entry is a full key); either way only digests are kept, and the presented
key's digest is compared with every configured digest (no early exit), so neither the match position nor a
prefix leaks through timing. Keys are never logged.

Access rules (checked by the request gate before any body byte is read, and again by each route):
- a key that is sent must be a configured one (403 otherwise), even where reads are public;
- writes (uploads, deletes) need a key with the write scope; with no keys configured they are refused,
  unless `allow_unauthenticated_writes` is set (loopback hosts only);
- reads need a key (either scope) when keys are configured, unless `public_reads` is set; with no keys
  configured reads are open (and an Authorization header is ignored: there is nothing to check it against).
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Literal

from api.rest.errors import ApiError

Access = Literal["read", "write"]
RouteAccess = Literal["open", "read", "write"]  # what a route needs: nothing, or one of the scopes
KeyEntry = tuple[bytes, frozenset[str]]  # (sha256 digest of the key, its scopes)


def key_digest(key: str) -> bytes:
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).digest()


def key_scopes(presented: str, keys: tuple[KeyEntry, ...]) -> frozenset[str] | None:
    """The scopes of `presented` if it is a configured key, else None (constant time in which one, and in
    the key: every digest is compared)."""
    probe = key_digest(presented)
    found: frozenset[str] | None = None
    for digest, scopes in keys:
        if hmac.compare_digest(probe, digest):
            found = scopes
    return found


def bearer_token(authorization: str | None) -> str | None:
    """The token of an `Authorization: Bearer <token>` header; None when absent or another scheme."""
    if not authorization:
        return None
    scheme, _, token = authorization.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


def check_access(
    access: Access,
    authorization: str | None,
    *,
    keys: tuple[KeyEntry, ...],
    public_reads: bool,
    allow_unauthenticated_writes: bool,
) -> None:
    """Raise the 401/403 ApiError a request with this Authorization header gets, or return if allowed."""
    if not keys:
        if access == "read" or allow_unauthenticated_writes:
            return
        raise ApiError(
            403,
            "writes are disabled: this server has no API keys configured (set VTRAG_API_KEYS)",
            type="permission_denied",
        )
    token = bearer_token(authorization)
    if token is None:
        if access == "read" and public_reads:
            return
        raise ApiError(
            401,
            "an API key is required: send 'Authorization: Bearer <key>'",
            type="authentication_error",
            headers={"WWW-Authenticate": "Bearer"},
        )
    scopes = key_scopes(token, keys)
    if scopes is None:
        raise ApiError(403, "the API key is not valid", type="permission_denied")
    if access not in scopes:
        raise ApiError(403, f"this API key may not {access} (its scopes: {', '.join(sorted(scopes))})")
