"""Token sets (retriever/token_sets.py): a swap cut at each stage leaves every page served by one set, the
sweep removes what it left, stale page records still read the current set, and the accounting follows
the set a page names. Milvus Lite and a Milvus server on loopback (the `vision_store` fixture)."""

from __future__ import annotations

from dataclasses import replace

import pytest
import torch

from retriever.records import TEXT_ONLY, PageRecord
from retriever.store import IndexStore
from retriever.token_sets import Swap, current_set, next_set, set_id, split_set_id
from tests.retriever.helpers import VISION_DIM, add_doc, make_doc, make_page, unit

DOC = "ab" * 32


class Crash(Exception):
    """Stands for a kill: raised by the stage hook, so nothing after that stage runs."""


def rows(seed: int, n: int = 20) -> torch.Tensor:
    return torch.randn((n, 16), generator=torch.Generator().manual_seed(seed)).to(torch.bfloat16)


def built(store: IndexStore, n_pages: int = 3) -> list[PageRecord]:
    pages = [
        make_page(DOC, n, f"page {n} of the ledger", vision_vec=unit(n % VISION_DIM, VISION_DIM))
        for n in range(1, n_pages + 1)
    ]
    store.begin_doc(make_doc(DOC, pages=n_pages))
    store.write_pages(pages, {p.page_no: rows(p.page_no) for p in pages})
    store.complete_doc(DOC)
    return store.get_pages([p.page_id for p in pages], with_vectors=True)


def smaller(page: PageRecord, seed: int) -> Swap:
    new = replace(page, mode="small", n_tokens=8, token_set=next_set(page))
    return Swap(new, rows(seed, 8), current_set(page))


def test_set_ids_round_trip() -> None:
    page = make_page(DOC, 7, "x")
    assert current_set(page) == page.page_id == set_id(page.page_id, 0)
    assert next_set(page) == f"{page.page_id}/1" and split_set_id(next_set(page)) == (page.page_id, 1)
    second = replace(page, token_set=next_set(page))
    assert next_set(second) == f"{page.page_id}/2" and current_set(replace(page, mode=TEXT_ONLY)) is None


@pytest.mark.parametrize("cut", ["tokens_written", "switched", "dropped"])
def test_a_swap_cut_at_any_stage_serves_one_version_and_the_sweep_cleans_up(
    vision_store: IndexStore, cut: str
) -> None:
    pages = built(vision_store)
    swaps = [smaller(p, 100 + p.page_no) for p in pages]

    def crash(stage: str) -> None:
        if stage == cut:
            raise Crash(stage)

    with pytest.raises(Crash):
        vision_store.token_sets().swap(swaps, on_stage=crash)
    now = vision_store.get_pages([p.page_id for p in pages])
    tokens = vision_store.get_tokens(now)
    assert len(tokens) == 3  # never a page without its tokens
    switched = cut != "tokens_written"
    for page in now:
        want = rows(100 + page.page_no, 8) if switched else rows(page.page_no)
        assert page.mode == ("small" if switched else "base") and torch.equal(tokens[page.page_id], want)
    stale_rows = vision_store.audit()["orphan_token_rows"]
    assert (stale_rows > 0) == (cut != "dropped")
    assert vision_store.token_sets().sweep() == (3 if cut != "dropped" else 0)
    assert vision_store.audit()["orphan_token_rows"] == 0 and len(vision_store.get_tokens(now)) == 3


def test_a_stale_page_record_reads_the_current_set(vision_store: IndexStore) -> None:
    pages = built(vision_store, 2)
    vision_store.token_sets().swap([smaller(p, 200 + p.page_no) for p in pages])
    got = vision_store.get_tokens(pages)  # records read before the swap name the dropped sets
    assert all(torch.equal(got[p.page_id], rows(200 + p.page_no, 8)) for p in pages)


def test_text_only_pages_and_codecs_are_accounted_by_their_set(vision_store: IndexStore) -> None:
    pages = built(vision_store)
    first = replace(pages[0], mode=TEXT_ONLY, n_tokens=0, token_set="")
    sizes = vision_store.token_sets().swap(
        [Swap(first, None, current_set(pages[0])), smaller(pages[1], 7)], token_codec="int8"
    )
    assert sizes[first.page_id] == 0 and sizes[pages[1].page_id] > 0
    stats = vision_store.stats()
    assert stats["by_mode"]["text"]["pages"] == 1 and stats["by_mode"]["small"]["pages"] == 1
    assert stats["by_codec"]["int8"]["pages"] == 1 and stats["by_codec"]["lossless"]["pages"] == 1
    assert stats["by_codec"]["none"]["pages"] == 1
    assert vision_store.get_tokens([first.page_id]) == {}
    int8_rows = vision_store.get_tokens([pages[1].page_id])[pages[1].page_id]
    assert (int8_rows.float() - rows(7, 8).float()).abs().max() < 0.1  # int8: close, not exact
    assert vision_store.audit()["orphan_token_rows"] == 0


def test_new_tokens_need_a_new_set(vision_store: IndexStore) -> None:
    page = built(vision_store, 1)[0]
    with pytest.raises(ValueError, match="new token set"):
        vision_store.token_sets().swap([Swap(replace(page, mode="small"), rows(1, 8), current_set(page))])
    assert torch.equal(vision_store.get_tokens([page])[page.page_id], rows(1))  # nothing written


def test_a_deleted_document_takes_every_set_and_its_reads(vision_store: IndexStore) -> None:
    pages = built(vision_store, 2)
    vision_store.token_sets().swap([smaller(pages[0], 9)])
    vision_store.reads().record({pages[0].page_id: 1000.0})
    vision_store.delete_doc(DOC)
    audit = vision_store.audit()
    assert audit["token_rows"] == 0 and vision_store.reads().all() == {}


def test_read_times_keep_the_latest(store: IndexStore) -> None:
    add_doc(store, DOC, [make_page(DOC, 1, "a page")])
    log = store.reads()
    assert log.all() == {}  # no collection yet: nothing read, nothing made
    log.record({f"{DOC}:1": 50.0})
    log.record({f"{DOC}:1": 20.0})
    assert log.last_read([f"{DOC}:1", f"{DOC}:2"]) == {f"{DOC}:1": 50.0}
