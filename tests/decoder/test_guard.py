import pytest
import torch

from decoder.guard import NoRepeatNGramGuard, banned_tokens

TD, END_TD = 10, 11


def test_bans_the_token_that_completes_a_seen_ngram():
    assert banned_tokens([1, 2, 3, 1, 2], ngram_size=3, window_size=6) == {3}
    assert banned_tokens([1, 2, 3, 1, 2, 4, 1, 2], ngram_size=3, window_size=8) == {3, 4}
    assert banned_tokens([1, 2], ngram_size=3, window_size=6) == set()  # shorter than n
    # The earlier n-gram has slid out of the window: allowed again.
    assert banned_tokens([1, 2, 3, 9, 9, 8, 7, 1, 2], ngram_size=3, window_size=6) == set()


def test_official_sizes_on_a_30gram_loop():
    loop = list(range(100, 131))  # 31 distinct tokens
    ids = loop + loop[:29]  # the next token would repeat the 30-gram loop[0:30]
    assert banned_tokens(ids) == {loop[29]}
    assert banned_tokens(ids[:-1]) == set()


def test_table_tags_are_exempt():
    cells = [TD, 5, END_TD] * 12  # repeating cells: every n-gram holds a tag
    assert banned_tokens(cells, 6, 30, exempt_ids={TD, END_TD}) == set()
    # The official rule only spares the tag itself: the cell content gets banned.
    assert banned_tokens(cells[:-2], 6, 30, exempt_ids={TD, END_TD}, exempt_scope="token") == {5}
    assert banned_tokens([TD, END_TD] * 10, 6, 30, exempt_ids={TD, END_TD}, exempt_scope="token") == set()


def test_processor_records_fired_only_when_the_choice_changes():
    guard = NoRepeatNGramGuard(3, 6)
    scores = torch.zeros(2, 8)
    scores[0, 3] = 5.0  # row 0 wants 3, which is banned
    scores[1, 6] = 5.0  # row 1 wants 6; 3 is banned there too but was not the choice
    out = guard.apply([[1, 2, 3, 1, 2], [1, 2, 3, 1, 2]], scores)
    assert out[0, 3] == float("-inf") and out[1, 3] == float("-inf")
    assert guard.fired == [True, False]


def test_transformers_logits_processor_interface_skips_the_prompt():
    guard = NoRepeatNGramGuard(3, 6, prompt_length=3)
    input_ids = torch.tensor([[1, 2, 3, 7, 1, 2]])  # prompt 1 2 3 must not count
    scores = torch.zeros(1, 8)
    assert torch.isfinite(guard(input_ids, scores)).all()
    input_ids = torch.tensor([[0, 0, 0, 1, 2, 3, 1, 2]])
    assert guard(input_ids, torch.zeros(1, 8))[0, 3] == float("-inf")


@pytest.mark.parametrize(
    "kwargs", [{"ngram_size": 0}, {"ngram_size": 30, "window_size": 20}, {"exempt_scope": "x"}]
)
def test_bad_settings(kwargs):
    with pytest.raises(ValueError):
        NoRepeatNGramGuard(**kwargs)
