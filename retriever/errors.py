"""Typed retriever errors, and the one place where Milvus/gRPC failures become them.

Upper layers never see a pymilvus or grpc exception: every call into Milvus goes through
`milvus_errors`, which keeps the one fact callers act on — whether trying again can help.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import grpc
from pymilvus.exceptions import ErrorCode, MilvusException, MilvusUnavailableException

if TYPE_CHECKING:
    from retriever.records import IndexConfig

# pymilvus raises this (from ConnectionConfig.from_uri) when milvus-lite cannot take the data dir's
# LOCK file, i.e. another process has the same .db open.
LITE_OPEN_FAILED = "Open local milvus failed"

# Substrings of MilvusException messages that mean "the server is not there (yet)".
_UNAVAILABLE_HINTS = ("Fail connecting to server", "server unavailable", "UNAVAILABLE", "DEADLINE_EXCEEDED")
_RETRIABLE_GRPC = frozenset(
    {grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED, grpc.StatusCode.RESOURCE_EXHAUSTED}
)


class RetrieverError(Exception):
    """Base of every error the retriever raises.

    Args:
        message: what went wrong and, where we know it, what to do about it.
        retriable: True when the same call may succeed later without any change (server restarting,
            rate limit); False when a person or the caller has to change something first.
    """

    def __init__(self, message: str, retriable: bool = False) -> None:
        super().__init__(message)
        self.message = message
        self.retriable = retriable

    def __reduce__(self) -> tuple[Any, ...]:
        # Subclasses take other arguments than the message they build, so the default (cls(*args)) cannot
        # rebuild them: one raised in a token writer process (retriever/token_writers.py) comes back whole.
        return _rebuilt, (type(self), self.message, dict(self.__dict__))


def _rebuilt(cls: type[RetrieverError], message: str, state: dict[str, Any]) -> RetrieverError:
    error = cls.__new__(cls)
    Exception.__init__(error, message)
    error.__dict__.update(state)
    return error


class StoreUnavailableError(RetrieverError):
    """Milvus could not be reached or timed out; retrying later may work."""

    def __init__(self, message: str) -> None:
        super().__init__(message, retriable=True)


class WriteLostError(RetrieverError):
    """A write the engine acknowledged but did not store (milvus-lite 2.5's core logs it, and answers OK)."""

    def __init__(self, what: str, detail: str) -> None:
        hint = " (No space left on device: free some space)" if "full" in detail.lower() else ""
        super().__init__(
            f"{what}: Milvus acknowledged a write it did not store: {detail}{hint}. Nothing of the "
            "document being written becomes visible; run the build again to resume it.",
            retriable=False,
        )


class StoreLockedError(RetrieverError):
    """A Milvus Lite data dir is already open in another process."""

    def __init__(self, path: str) -> None:
        super().__init__(
            f"The index at {path} is already open in another process (Milvus Lite allows one process "
            "per data dir), for example a running `vtrag serve` that owns this data dir. Stop that process, "
            "or point this command at a shared Milvus server with `--server URL`.",
            retriable=False,
        )
        self.path = path


class IndexNotFoundError(RetrieverError):
    """No index with this name exists at the uri yet."""

    def __init__(self, uri: str, name: str) -> None:
        super().__init__(
            f"No index named {name!r} at {uri}. Build one first with `vtrag index build PATH...`.",
            retriable=False,
        )


class IndexConfigMismatchError(RetrieverError):
    """The index on disk was built with other settings than the ones asked for."""

    def __init__(self, stored: IndexConfig | str, requested: IndexConfig | str) -> None:
        super().__init__(
            f"The index was built with {stored} but this run asks for {requested}. Use the settings the "
            "index was built with, or rebuild it from scratch with `--recreate` (drops the stored index).",
            retriable=False,
        )
        self.stored = stored
        self.requested = requested


class TokenIntegrityError(RetrieverError):
    """Stored vision tokens of a page are incomplete or do not match their sha256."""

    def __init__(self, page_id: str, reason: str) -> None:
        super().__init__(
            f"Stored tokens of page {page_id} are corrupt ({reason}); re-index that document.",
            retriable=False,
        )
        self.page_id = page_id


def convert_milvus_error(exc: BaseException, action: str) -> RetrieverError:
    """Map a pymilvus/grpc/socket exception to our typed error.

    Args:
        exc: the exception raised by pymilvus or the transport below it.
        action: a few words naming what we were doing, for the message ("upsert into vtrag_pages").

    Returns:
        The RetrieverError subclass to raise instead.
    """
    if isinstance(exc, RetrieverError):
        return exc
    if isinstance(exc, grpc.RpcError):
        code = exc.code() if hasattr(exc, "code") else None
        if code in _RETRIABLE_GRPC:
            return StoreUnavailableError(f"Milvus unavailable during {action}: {code}")
        return RetrieverError(f"Milvus {action} failed: {exc}")
    if isinstance(exc, MilvusUnavailableException):
        return StoreUnavailableError(f"Milvus unavailable during {action}: {exc.message}")
    if isinstance(exc, MilvusException):
        message = str(exc.message)
        if exc.code == ErrorCode.RATE_LIMIT:
            return RetrieverError(f"Milvus rate-limited {action}: {message}", retriable=True)
        if any(hint in message for hint in _UNAVAILABLE_HINTS):
            return StoreUnavailableError(f"Milvus unavailable during {action}: {message}")
        return RetrieverError(f"Milvus {action} failed: {message}")
    if isinstance(exc, (ConnectionError, TimeoutError)):
        return StoreUnavailableError(f"Milvus unavailable during {action}: {exc}")
    return RetrieverError(f"Milvus {action} failed: {exc!r}")


@contextmanager
def milvus_errors(action: str) -> Iterator[None]:
    """Run a block of pymilvus calls, re-raising their failures as RetrieverError.

    Args:
        action: what the block does, quoted in the error message.
    """
    try:
        yield
    except RetrieverError:
        raise
    except (MilvusException, grpc.RpcError, ConnectionError, TimeoutError) as exc:
        raise convert_milvus_error(exc, action) from exc
