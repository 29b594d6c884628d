"""Fixtures: a real index on each engine — Milvus Lite in tmp_path, and the same engine served over gRPC on
loopback (`python -m retriever.lite_server`), the server-URI path that Milvus standalone/cluster take."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path

import pytest

from retriever.records import IndexConfig
from retriever.store import IndexStore
from tests.retriever.helpers import CONFIG, VISION_CONFIG, lite_server

_names = itertools.count()


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "data" / "vtrag.db"


@pytest.fixture(scope="session")
def server_uri(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A loopback gRPC server over a fresh data dir, shared by the session (each test its own index name)."""
    with lite_server(tmp_path_factory.mktemp("served")) as uri:
        yield uri


def _open(request: pytest.FixtureRequest, db_path: Path, config: IndexConfig) -> IndexStore:
    if request.param == "lite":
        return IndexStore.open(db_path, config)
    uri = request.getfixturevalue("server_uri")
    return IndexStore.open(uri, config, name=f"t{next(_names)}")


@pytest.fixture(params=["lite", "server"])
def store(request: pytest.FixtureRequest, db_path: Path) -> Iterator[IndexStore]:
    s = _open(request, db_path, CONFIG)
    yield s
    s.close()


@pytest.fixture(params=["lite", "server"])
def vision_store(request: pytest.FixtureRequest, db_path: Path) -> Iterator[IndexStore]:
    s = _open(request, db_path, VISION_CONFIG)
    yield s
    s.close()
