"""What pymilvus and milvus-lite would print on their own, and why the retriever keeps it quiet.

Every failure of a Milvus call is converted at the retriever boundary into a typed RetrieverError that the
caller reports once (the CLI's `error:` line, the server's log line). The libraries log the same failure
first, with a traceback: pymilvus through its own stderr handler (`_log_rpc_error`), milvus-lite's
in-process server through Python's last-resort handler ("Upsert failed: [Errno 28] No space left on device",
"Failed to start MilvusLite server" for a locked data dir). Those duplicates are dropped here; anything else
the libraries log is left alone.
"""

from __future__ import annotations

import logging


class _DropRpcErrorLog(logging.Filter):
    """pymilvus' record of a failed call: the same error reaches the caller as a RetrieverError."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.funcName != "_log_rpc_error"


class _DropLiteIteratorWarning(logging.Filter):
    """Milvus Lite returns no iterator session timestamp, so pymilvus warns on every query_iterator;
    the client-side timestamp it falls back to is exactly right for a single-process Lite store."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "failed to get mvccTs" not in record.getMessage()


def quiet_library_logs() -> None:
    """Install the filters (idempotent)."""
    decorators = logging.getLogger("pymilvus.decorators")
    if not any(isinstance(f, _DropRpcErrorLog) for f in decorators.filters):
        decorators.addFilter(_DropRpcErrorLog())
    iterator = logging.getLogger("pymilvus.client.iterator.query_iterator")
    if not any(isinstance(f, _DropLiteIteratorWarning) for f in iterator.filters):
        iterator.addFilter(_DropLiteIteratorWarning())
    # The in-process Lite server logs each failed request (and a failed start) with a traceback; the client
    # side of the same request raises, and that is what gets reported.
    lite = logging.getLogger("milvus_lite")
    if not lite.handlers:
        lite.addHandler(logging.NullHandler())
        lite.propagate = False
