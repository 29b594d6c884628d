"""Conversion of pymilvus/grpc failures into typed, retriable-aware errors (pure)."""

from __future__ import annotations

import pytest
from pymilvus.exceptions import ErrorCode, MilvusException, MilvusUnavailableException

from retriever.errors import (
    IndexConfigMismatchError,
    RetrieverError,
    StoreLockedError,
    StoreUnavailableError,
    convert_milvus_error,
    milvus_errors,
)
from tests.retriever.helpers import CONFIG, VISION_CONFIG


def test_unavailable_is_retriable() -> None:
    err = convert_milvus_error(MilvusUnavailableException(message="down"), "query x")
    assert isinstance(err, StoreUnavailableError) and err.retriable
    err = convert_milvus_error(MilvusException(code=2, message="Fail connecting to server on h:1"), "connect")
    assert isinstance(err, StoreUnavailableError)
    assert convert_milvus_error(ConnectionResetError("reset"), "query").retriable


def test_rate_limit_is_retriable_other_errors_are_not() -> None:
    assert convert_milvus_error(
        MilvusException(code=ErrorCode.RATE_LIMIT, message="slow down"), "x"
    ).retriable
    err = convert_milvus_error(MilvusException(code=1100, message="bad expr"), "query vtrag_pages")
    assert type(err) is RetrieverError and not err.retriable and "query vtrag_pages" in str(err)


def test_context_manager_converts() -> None:
    with pytest.raises(RetrieverError) as info, milvus_errors("upsert into p"):
        raise MilvusException(message="boom")
    assert isinstance(info.value.__cause__, MilvusException)


def test_messages_say_what_to_do() -> None:
    locked = str(StoreLockedError("/data/vtrag.db"))
    assert "vtrag serve" in locked and "--server URL" in locked and "/data/vtrag.db" in locked
    mismatch = str(IndexConfigMismatchError(CONFIG, VISION_CONFIG))
    assert "--recreate" in mismatch and "test-enc" in mismatch and "no vision encoder" in mismatch
