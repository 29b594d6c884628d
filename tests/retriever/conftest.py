"""Fixtures: a real Milvus Lite index in tmp_path."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from retriever.store import IndexStore
from tests.retriever.helpers import CONFIG, VISION_CONFIG


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "data" / "vtrag.db"


@pytest.fixture
def store(db_path: Path) -> Iterator[IndexStore]:
    s = IndexStore.open(db_path, CONFIG)
    yield s
    s.close()


@pytest.fixture
def vision_store(db_path: Path) -> Iterator[IndexStore]:
    s = IndexStore.open(db_path, VISION_CONFIG)
    yield s
    s.close()
