"""Versioned token sets: replacing a page's stored vision tokens with no moment where it has none or two.

A page's token rows form its *token set*, named by the set id in the rows' `page_id` field: the page id
itself for the set a build writes, "<page_id>/<g>" for the g-th replacement (optical forgetting, issue 18).
The page row names its current set (PageRecord.token_set, "" = the page id); a page in mode TEXT_ONLY has
none. `swap` writes the new sets' rows (flush), switches the page rows to them (flush), then deletes the
old sets. A kill between any two steps leaves every page served by exactly one set — the old one or the
new one, never neither — because reads follow the page row. Rows of a set no page row names are garbage:
never read, and removed by `sweep`, which every compaction runs first.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from retriever import pages as page_rows
from retriever.connection import Connection
from retriever.filters import field_equals, field_in
from retriever.records import LOSSLESS, TEXT_ONLY, IndexConfig, PageRecord
from retriever.schema import CollectionNames

if TYPE_CHECKING:
    import torch

OnStage = Callable[[str], None]
SEPARATOR = "/"  # page ids are "doc_id:page_no" (hex and digits): "/" never occurs in them
ID_BATCH = 256  # ids per delete or query request


def set_id(page_id: str, generation: int) -> str:
    """The id of a page's `generation`-th token set (0: the one a build writes, named by the page id)."""
    return page_id if generation == 0 else f"{page_id}{SEPARATOR}{generation}"


def split_set_id(token_set: str) -> tuple[str, int]:
    """(page id, generation) of a set id; a malformed suffix reads as generation 0 of the whole id."""
    page_id, sep, gen = token_set.rpartition(SEPARATOR)
    if sep and gen.isdigit():
        return page_id, int(gen)
    return token_set, 0


def current_set(page: PageRecord) -> str | None:
    """The set id holding the page's tokens now (None for a text-only page)."""
    if page.mode == TEXT_ONLY:
        return None
    return page.token_set or page.page_id


def next_set(page: PageRecord) -> str:
    """The set id a replacement of the page's tokens is written under (never one in use)."""
    return set_id(page.page_id, split_set_id(page.token_set)[1] + 1 if page.token_set else 1)


@dataclass(frozen=True)
class Swap:
    """One page's replacement: `page` is its new row (mode, n_tokens, vision vector, `token_set`),
    `rows` its new tokens (None when compacted to text), `old_set` the set to drop after the switch."""

    page: PageRecord
    rows: torch.Tensor | None
    old_set: str | None


def swap(
    conn: Connection,
    names: CollectionNames,
    config: IndexConfig,
    swaps: Sequence[Swap],
    token_codec: str = LOSSLESS,
    on_stage: OnStage | None = None,
) -> dict[str, int]:
    """Replace the token sets of some pages (see the module docstring for the order and why).

    Args:
        conn: open connection. names: the index's collections. config: its config (page row checks).
        swaps: the pages, each with its new row and tokens; every row is built (checked) before writing.
        token_codec: how the new rows are stored (records.TOKEN_CODECS), whatever the index's default.
        on_stage: called after "tokens_written", "switched" and "dropped" (progress, and crash tests).

    Returns:
        page_id → bytes of its new token payload (0 for text-only pages).
    """
    from retriever import tokens as token_blobs  # torch: only where tokens are touched, not on search

    with_rows = [s for s in swaps if s.rows is not None]
    for s in with_rows:
        if s.page.token_set in ("", s.old_set) or s.page.mode == TEXT_ONLY:
            raise ValueError(f"page {s.page.page_id}: new tokens need a new token set (token_sets.next_set)")
    sizes = {
        s.page.page_id: token_blobs.stored_size(token_codec, s.rows) for s in with_rows if s.rows is not None
    }
    rows = [page_rows.page_to_row(s.page, config, sizes.get(s.page.page_id, 0)) for s in swaps]
    by_doc: dict[str, dict[str, torch.Tensor]] = defaultdict(dict)
    for s in with_rows:
        if s.rows is not None:
            by_doc[s.page.doc_id][s.page.token_set] = s.rows
    for doc_id, tensors in by_doc.items():
        token_blobs.write_tokens(conn, names.tokens, doc_id, tensors, replace=False, token_codec=token_codec)
    conn.flush(names.tokens)
    _stage(on_stage, "tokens_written")
    page_rows.upsert_pages(conn, names.pages, rows)
    conn.flush(names.pages)
    _stage(on_stage, "switched")
    drop_sets(conn, names, [s.old_set for s in swaps if s.old_set])
    _stage(on_stage, "dropped")
    return {s.page.page_id: sizes.get(s.page.page_id, 0) for s in swaps}


def _stage(on_stage: OnStage | None, name: str) -> None:
    if on_stage is not None:
        on_stage(name)


def drop_sets(conn: Connection, names: CollectionNames, set_ids: Iterable[str]) -> None:
    """Delete every row of these token sets (and flush)."""
    ids = sorted(set(set_ids))
    for start in range(0, len(ids), ID_BATCH):
        conn.delete(names.tokens, field_in("page_id", ids[start : start + ID_BATCH]))
    if ids:
        conn.flush(names.tokens)


def stale_sets(conn: Connection, names: CollectionNames) -> list[str]:
    """Token sets that no page row names: what a kill during a swap (or a delete racing one) left.

    Only pages a compaction touched can have them — those with a replacement set or in mode TEXT_ONLY —
    so only their page rows are read; a build's own leftovers (sets of pages with no row) are the build's
    business (resume and delete handle them).
    """
    by_page: dict[str, list[str]] = defaultdict(list)
    for row in conn.query_all(names.tokens, field_equals("chunk", 0), ["page_id"]):
        token_set = str(row["page_id"])
        by_page[split_set_id(token_set)[0]].append(token_set)
    touched = {pid for pid, sets in by_page.items() if any(SEPARATOR in s for s in sets)}
    for row in conn.query_all(names.pages, field_equals("mode", TEXT_ONLY), ["page_id"]):
        if str(row["page_id"]) in by_page:
            touched.add(str(row["page_id"]))
    found = page_rows.read_pages(conn, names.pages, sorted(touched))
    stale: list[str] = []
    for pid in sorted(touched):
        page = found.get(pid)
        keep = current_set(page) if page is not None else None
        stale += [s for s in by_page[pid] if s != keep]
    return stale


def sweep(conn: Connection, names: CollectionNames) -> int:
    """Delete the stale token sets (`stale_sets`). Returns how many there were."""
    stale = stale_sets(conn, names)
    drop_sets(conn, names, stale)
    return len(stale)


def read_current(
    conn: Connection, names: CollectionNames, pages: Sequence[PageRecord]
) -> dict[str, torch.Tensor]:
    """The tokens of pages, read from the set each page row names: page_id → tensor (pages without
    tokens absent). A page whose set vanished under a concurrent swap is looked up again once."""
    from retriever import tokens as token_blobs

    wanted = {current_set(p): p.page_id for p in pages if current_set(p) is not None}
    got = token_blobs.read_tokens(conn, names.tokens, [s for s in wanted if s is not None])
    out = {wanted[s]: t for s, t in got.items()}
    missing = [p.page_id for p in pages if p.page_id not in out and current_set(p) is not None]
    if missing:  # switched since the caller read the page rows: follow the rows as they are now
        fresh = page_rows.read_pages(conn, names.pages, missing)
        again = {current_set(p): p.page_id for p in fresh.values() if current_set(p) is not None}
        for s, t in token_blobs.read_tokens(conn, names.tokens, [s for s in again if s]).items():
            out[again[s]] = t
    return {p.page_id: out[p.page_id] for p in pages if p.page_id in out}


SUMMARY_FIELDS = ("page_id", "doc_id", "page_no", "mode", "n_tokens", "token_bytes", "width", "height", "dpi")


class TokenSets:
    """The token-set operations of one open index (what `IndexStore.token_sets()` hands out)."""

    def __init__(self, conn: Connection, names: CollectionNames, config: IndexConfig) -> None:
        self._conn, self._names, self._config = conn, names, config

    def swap(
        self, swaps: Sequence[Swap], token_codec: str = LOSSLESS, on_stage: OnStage | None = None
    ) -> dict[str, int]:
        """`swap` on this index."""
        return swap(self._conn, self._names, self._config, swaps, token_codec, on_stage)

    def sweep(self) -> int:
        """`sweep` on this index: deletes the stale sets, returns how many there were."""
        return sweep(self._conn, self._names)

    def page_summaries(self, doc_ids: Sequence[str]) -> list[dict[str, Any]]:
        """The SUMMARY_FIELDS of every page of these documents (no text, lines or vectors)."""
        out: list[dict[str, Any]] = []
        for start in range(0, len(doc_ids), ID_BATCH):
            flt = field_in("doc_id", list(doc_ids[start : start + ID_BATCH]))
            out += [dict(r) for r in self._conn.query_all(self._names.pages, flt, list(SUMMARY_FIELDS))]
        return out

    def stored_layout(self) -> tuple[str, int] | None:
        """(dtype, row width) of the stored token rows (those of any one page; None when there are none)."""
        rows = self._conn.query(self._names.tokens, field_equals("chunk", 0), ["dtype", "shape"], limit=1)
        return (str(rows[0]["dtype"]), int(list(rows[0]["shape"])[-1])) if rows else None
