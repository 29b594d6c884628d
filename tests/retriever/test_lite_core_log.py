"""The Milvus binary's log, read for writes it acknowledged but could not store (retriever/lite_core.py)."""

from __future__ import annotations

from retriever.lite_core import failed_writes


def test_the_core_log_lines_that_mean_a_lost_write() -> None:
    """milvus-lite 2.5's core logs the writes it acknowledged but could not store; a failed search is not
    one (its caller got the error), and neither is anything below ERROR."""
    insert = (
        "E20261204 22:24:51.321827 12952 collection_data.cpp:84] [SERVER][Insert][grpcpp_sync_ser][]"
        "Insert data failed, errs: database or disk is full"
    )
    bm25 = (
        "E20261204 22:25:05.248868 13317 bm25_stats.cpp:43] [SERVER][AddTokenDoc][grpcpp_sync_ser][]"
        "Update bm25 stats failed, err: database or disk is full"
    )
    search = "E20261204 22:25:06.000001 13317 x.cpp:43] [SERVER][Search][grpcpp_sync_ser][]Search failed: bad"
    info = "I20261204 22:25:06.000001 13317 x.cpp:43] [SERVER][Insert][grpcpp_sync_ser][]Insert done"
    assert failed_writes("\n".join([info, insert, search, bm25, ""])) == [insert, bm25]
