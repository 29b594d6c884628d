"""Defaults of the Python SDK (api.client), in one place: URLs, timeouts, retries, job polling."""

from __future__ import annotations

BASE_URL_ENV = "VTRAG_BASE_URL"
API_KEY_ENV = "VTRAG_API_KEY"
DEFAULT_BASE_URL = "http://127.0.0.1:8000"

DEFAULT_TIMEOUT = 60.0  # seconds per attempt (answers from a model or full OCR can take a while)
DEFAULT_CONNECT_TIMEOUT = 5.0
DEFAULT_MAX_RETRIES = 2

# Backoff between attempts: INITIAL * 2**attempt, capped, times a jitter in [1 - JITTER, 1].
INITIAL_RETRY_DELAY = 0.5
MAX_RETRY_DELAY = 8.0
RETRY_JITTER = 0.25
MAX_RETRY_AFTER = 60.0  # a server's Retry-After above this is ignored in favour of our own backoff
RETRY_STATUSES = frozenset({408, 429})  # and every 5xx

JOB_POLL_INTERVAL = 0.5
JOB_WAIT_TIMEOUT = 600.0

USER_AGENT = "vtrag-python/0.1.0"
