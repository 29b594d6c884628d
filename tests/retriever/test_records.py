"""Records: IndexConfig serialisation and validation, page ids (pure)."""

from __future__ import annotations

import pytest

from retriever.records import IndexConfig
from tests.retriever.helpers import CONFIG, VISION_CONFIG, make_page


def test_index_config_json_round_trip() -> None:
    for cfg in (CONFIG, VISION_CONFIG):
        assert IndexConfig.from_json(cfg.to_json()) == cfg
    assert VISION_CONFIG.to_dict()["vision_dim"] == 6
    with pytest.raises(ValueError):
        IndexConfig.from_json('{"text_model": "x"}')


def test_index_config_validation() -> None:
    with pytest.raises(ValueError):
        IndexConfig("m", 0, "base")
    with pytest.raises(ValueError):
        IndexConfig("m", 8, "base", encoder="enc")  # vision_dim missing


def test_page_id() -> None:
    assert make_page("abc", 7, "x").page_id == "abc:7"
