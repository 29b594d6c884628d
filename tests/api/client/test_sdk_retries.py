"""SDK transport edge cases with a mock transport: retries, Retry-After, backoff bounds, timeouts, errors."""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest

from api.client import (
    APIConnectionError,
    APIStatusError,
    APITimeoutError,
    AsyncClient,
    BadRequestError,
    Client,
    ConflictError,
    InternalServerError,
    JobTimeoutError,
    RateLimitError,
    VtragError,
)
from api.client import base as client_base
from api.client import constants as C

OK_SEARCH = {"results": []}


def error(status: int, type_: str = "x", headers: dict[str, str] | None = None) -> httpx.Response:
    return httpx.Response(
        status, json={"error": {"type": type_, "message": "nope", "detail": {"a": 1}}}, headers=headers
    )


class Script:
    """A transport answering from a list of responses (or exceptions) and recording each request."""

    def __init__(self, *answers: httpx.Response | Exception) -> None:
        self.answers = list(answers)
        self.requests: list[httpx.Request] = []
        self.times: list[float] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        self.times.append(time.monotonic())
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer


def client(script: Script, **kwargs: object) -> Client:
    return Client(
        base_url="http://vtrag.test",
        api_key="k" * 16,
        http_client=httpx.Client(transport=httpx.MockTransport(script)),
        **kwargs,
    )  # type: ignore[arg-type]


def test_retries_honour_retry_after_then_succeed() -> None:
    script = Script(
        error(429, headers={"Retry-After": "0.2"}),
        error(503, headers={"Retry-After": "0"}),
        httpx.Response(200, json=OK_SEARCH),
    )
    out = client(script, max_retries=2).search(query="lamp", top_k=3)
    assert out.results == []
    assert len(script.requests) == 3
    assert script.times[1] - script.times[0] >= 0.19
    request = script.requests[0]
    assert request.headers["authorization"] == "Bearer " + "k" * 16
    assert request.url == "http://vtrag.test/v1/search"
    assert request.read() == b'{"query":"lamp","top_k":3}'


def test_retries_are_bounded_and_errors_typed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(C, "INITIAL_RETRY_DELAY", 0.01)
    script = Script(error(500), error(502), error(500, "internal_error"))
    with pytest.raises(InternalServerError) as failed:
        client(script, max_retries=2).status()
    assert len(script.requests) == 3 and failed.value.type == "internal_error"
    for status, cls in [
        (400, BadRequestError),
        (422, BadRequestError),
        (409, ConflictError),
        (413, APIStatusError),
    ]:
        script = Script(error(status))
        with pytest.raises(cls) as caught:
            client(script).status()
        assert len(script.requests) == 1 and caught.value.status_code == status  # 4xx: never retried
        assert caught.value.detail == {"a": 1} and isinstance(caught.value, VtragError)
    script = Script(error(429), error(429))
    with pytest.raises(RateLimitError):
        client(script, max_retries=1).status()


def test_backoff_grows_and_is_capped(monkeypatch: pytest.MonkeyPatch) -> None:
    delays = [client_base.retry_delay(n) for n in range(12)]
    assert all(d <= C.MAX_RETRY_DELAY for d in delays)
    assert delays[0] <= C.INITIAL_RETRY_DELAY and delays[-1] >= C.MAX_RETRY_DELAY * (1 - C.RETRY_JITTER)
    huge = httpx.Response(429, headers={"Retry-After": "3600"})
    assert client_base.retry_delay(0, huge) <= C.INITIAL_RETRY_DELAY  # an absurd Retry-After is not obeyed
    dated = httpx.Response(503, headers={"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"})
    assert client_base.retry_delay(1, dated) <= 2 * C.INITIAL_RETRY_DELAY  # in the past: own backoff
    assert client_base.retry_delay(0, httpx.Response(429, headers={"retry-after-ms": "5"})) == 0.005


def test_connection_errors_and_timeouts(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(C, "INITIAL_RETRY_DELAY", 0.01)
    script = Script(httpx.ConnectError("refused"), httpx.Response(200, json=OK_SEARCH))
    assert client(script, max_retries=1).search(query="lamp").results == []
    script = Script(httpx.ConnectError("refused"), httpx.ConnectError("refused"))
    with pytest.raises(APIConnectionError) as down:
        client(script, max_retries=1).search(query="lamp")
    assert not isinstance(down.value, APITimeoutError)
    script = Script(httpx.ReadTimeout("slow"))
    with pytest.raises(APITimeoutError):
        client(script, max_retries=0).search(query="lamp", timeout=0.5)
    seen: list[httpx.Request] = []

    def record(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json=OK_SEARCH)

    c = Client(base_url="http://vtrag.test", http_client=httpx.Client(transport=httpx.MockTransport(record)))
    c.search(query="a", timeout=1.5)
    c.search(query="a")
    assert seen[0].extensions["timeout"]["read"] == 1.5
    assert seen[1].extensions["timeout"]["read"] == C.DEFAULT_TIMEOUT


def test_base_url_and_key_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VTRAG_BASE_URL", "http://10.0.0.1:9000/")
    monkeypatch.setenv("VTRAG_API_KEY", "env-key-0123456789")
    c = Client()
    assert c.base_url == "http://10.0.0.1:9000" and c.api_key == "env-key-0123456789"
    assert (
        Client(base_url="http://127.0.0.1:1", api_key="explicit-key-123456").api_key == "explicit-key-123456"
    )
    with pytest.raises(ValueError):
        Client(base_url="ftp://x")
    with pytest.raises(TypeError):
        Client().search("positional")  # type: ignore[misc]


def test_real_connection_refused_is_a_connection_error() -> None:
    with Client(base_url="http://127.0.0.1:9", max_retries=0) as c, pytest.raises(APIConnectionError):
        c.health()


def test_async_retries_and_job_wait_timeout() -> None:
    script = Script(error(503, headers={"Retry-After": "0"}), httpx.Response(200, json=OK_SEARCH))
    running = {"job_id": "a" * 32, "status": "running", "created_at": 0, "progress": {}, "files": []}

    async def go() -> None:
        transport = httpx.MockTransport(script)
        async with AsyncClient(
            base_url="http://vtrag.test", http_client=httpx.AsyncClient(transport=transport)
        ) as c:
            assert (await c.search(query="lamp")).results == []
        jobs = httpx.MockTransport(lambda request: httpx.Response(200, json=running))
        async with AsyncClient(
            base_url="http://vtrag.test", http_client=httpx.AsyncClient(transport=jobs)
        ) as c:
            with pytest.raises(JobTimeoutError) as waited:
                await c.jobs.wait(job_id="a" * 32, poll_interval=0.01, timeout=0.05)
            assert waited.value.last.status == "running"

    asyncio.run(go())
    assert len(script.requests) == 2
