"""API keys: `Authorization: Bearer <key>` checked in constant time against the configured keys.

Keys are configured as plain keys or `sha256:<hex>` digests (VTRAG_API_KEYS); either way only digests are
kept, and the presented key's digest is compared with every configured digest (no early exit), so neither
the match position nor a prefix leaks through timing.

Access rules:
- writes (uploads, deletes) need a valid key; with no keys configured they are refused, unless
  `allow_unauthenticated_writes` is set (loopback hosts only);
- reads need a valid key when keys are configured, unless `public_reads` is set; with no keys configured
  reads are open.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Literal

from api.rest.errors import ApiError

Access = Literal["read", "write"]


def key_digest(key: str) -> bytes:
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).digest()


def matches(presented: str, digests: tuple[bytes, ...]) -> bool:
    """Whether `presented` is one of the configured keys (constant time in which one, and in the key)."""
    probe = key_digest(presented)
    found = False
    for digest in digests:
        found |= hmac.compare_digest(probe, digest)
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
    digests: tuple[bytes, ...],
    public_reads: bool,
    allow_unauthenticated_writes: bool,
) -> None:
    """Raise the 401/403 ApiError a request with this Authorization header gets, or return if allowed."""
    if not digests:
        if access == "read" or allow_unauthenticated_writes:
            return
        raise ApiError(
            403,
            "writes are disabled: this server has no API keys configured (set VTRAG_API_KEYS)",
            type="permission_denied",
        )
    if access == "read" and public_reads:
        return
    token = bearer_token(authorization)
    if token is None:
        raise ApiError(
            401,
            "an API key is required: send 'Authorization: Bearer <key>'",
            type="authentication_error",
            headers={"WWW-Authenticate": "Bearer"},
        )
    if not matches(token, digests):
        raise ApiError(403, "the API key is not valid", type="permission_denied")
