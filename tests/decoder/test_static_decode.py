"""The static-cache decode (the CUDA-graph path on a GPU; the same step eagerly here) chooses the same tokens
as the reference dynamic-cache loop, shrinks its batch as rows finish, and its tensor guard bans what the
list guard bans."""

from __future__ import annotations

import random
from collections import Counter

import pytest
import torch

from decoder import prompts
from decoder.generate import Generator, Request
from decoder.guard import TensorNGramGuard, banned_tokens
from decoder.static_decode import StaticDecoder, cache_length, row_bucket
from tests.decoder.conftest import make_tiny_model
from tests.decoder.test_generate import _pages


@pytest.fixture(scope="module")
def requests_():
    model = make_tiny_model()
    _, _, feats = _pages(model, seed=2)
    two = prompts.question_prompt("What is the total ?", ["a", "b"])
    one = prompts.question_prompt("What is it ?", ["a"])
    # Different prompt lengths: the batch is left-padded.
    return model, [Request(feats, two), Request(feats[1:], prompts.FREE_OCR), Request(feats[:1], one)]


def assert_same(a, b):
    for x, y in zip(a, b, strict=True):
        assert x.token_ids == y.token_ids
        assert x.logprobs == pytest.approx(y.logprobs, abs=1e-4)
        assert (x.guard_fired, x.finish_reason, x.prompt_tokens) == (
            y.guard_fired,
            y.finish_reason,
            y.prompt_tokens,
        )


def test_static_equals_dynamic_over_64_steps(requests_, tokenizer):
    model, reqs = requests_
    dynamic = Generator(model, tokenizer, static=False).generate_batch(reqs, 64, stop_ids=())
    static_gen = Generator(model, tokenizer, static=True)
    static = static_gen.generate_batch(reqs, 64, stop_ids=())
    assert_same(static, dynamic)
    assert any(g.guard_fired for g in dynamic)  # the random tiny model loops: the guard is exercised
    assert_same(static_gen.generate_batch(reqs, 64, stop_ids=()), dynamic)  # a reused session


def test_finished_rows_leave_and_the_batch_shrinks(requests_, tokenizer):
    model, reqs = requests_
    batch = reqs * 3  # 9 rows: bucket 16
    reference = Generator(model, tokenizer, static=False)
    free = reference.generate_batch(batch, 40, stop_ids=())
    # Stop on a token some rows emit and others never do: rows finish at different steps, some run out.
    holders = Counter(t for g in free for t in set(g.token_ids))
    stops = [next(t for t, n in holders.most_common() if n < len(batch))]
    dynamic = reference.generate_batch(batch, 40, stop_ids=stops)
    static_gen = Generator(model, tokenizer, static=True)
    static = static_gen.generate_batch(batch, 40, stop_ids=stops)
    assert_same(static, dynamic)
    assert {g.finish_reason for g in dynamic} == {"stop", "length"}
    decoder = static_gen._static
    assert isinstance(decoder, StaticDecoder)
    rows = {key[0] for key in decoder._sessions}
    assert max(rows) == 16 and min(rows) < 16  # the live rows moved into a smaller session


def test_buckets():
    assert [row_bucket(n) for n in (1, 2, 3, 5, 9, 32, 33)] == [1, 2, 4, 8, 16, 32, 64]
    assert cache_length(1430, 30) == 1536 and cache_length(256, 0) == 256


@pytest.mark.parametrize("scope", ["ngram", "token"])
def test_tensor_guard_bans_what_the_list_guard_bans(scope):
    rng = random.Random(0)
    for _ in range(300):
        n = rng.choice([2, 3, 4])
        window = rng.choice([n, n + 1, 6, 9])
        guard = TensorNGramGuard(n, window, [5], scope)
        histories = [[rng.randrange(8) for _ in range(rng.randrange(0, 14))] for _ in range(4)]
        recent = guard.empty_history(4, "cpu")
        for row, history in enumerate(histories):
            tail = history[-window:]
            if tail:
                recent[row, window - len(tail) :] = torch.tensor(tail)
        scores = torch.randn(4, 8)
        guarded = scores.clone()
        changed = guard.apply(recent, guarded)
        for row, history in enumerate(histories):
            banned = banned_tokens(history, n, window, [5], scope)
            assert {i for i in range(8) if guarded[row, i] == float("-inf")} == banned
            assert bool(changed[row]) == (int(scores[row].argmax()) in banned)


def test_guard_history_push_keeps_the_last_window():
    guard = TensorNGramGuard(2, 3)
    recent = guard.empty_history(1, "cpu")
    for token in (7, 8, 9, 10):
        guard.push(recent, torch.tensor([token]))
    assert recent.tolist() == [[8, 9, 10]]


def test_a_prefill_that_cannot_be_recorded_runs_eagerly_with_the_same_tokens(
    requests_, tokenizer, monkeypatch
):
    """On a GPU a short prefill is replayed as a CUDA graph; where recording fails the session stays on
    the eager prefill for good, with the same result (driven here on the CPU by a recorder that fails)."""
    from decoder import static_decode

    model, reqs = requests_
    generator = Generator(model, tokenizer, static=True)
    first = generator.generate_batch(reqs[:1], 12)
    assert generator._static is not None
    (session,) = generator._static._sessions.values()
    session.prefill_graphs = True  # as on a GPU, now that the first prefill has allocated the cache

    def fail(*_args, **_kwargs):
        raise RuntimeError("operation not permitted when stream is capturing")

    monkeypatch.setattr(static_decode.DecodeSession, "_record", fail)
    again = generator.generate_batch(reqs[:1], 12)
    assert_same(first, again)
    assert session.prefill_graphs is False
