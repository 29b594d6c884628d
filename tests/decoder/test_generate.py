import inspect
import io
import math
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from torch import nn

from decoder import prompts
from decoder.generate import Generator, Request
from decoder.prompts import build_inputs
from tests.decoder.conftest import IMAGE_ID, VOCAB, VOCAB_SIZE, make_tokenizer

EOS = VOCAB["<｜end▁of▁sentence｜>"]
TD, END_TD = VOCAB["<td>"], VOCAB["</td>"]


def _store_and_load(rows: torch.Tensor) -> torch.Tensor:
    """What the token store does: raw bytes + dtype + shape out, the same tensor back."""
    payload = io.BytesIO(rows.detach().contiguous().numpy().tobytes()).getvalue()
    dtype, shape = str(rows.dtype).removeprefix("torch."), tuple(rows.shape)
    return torch.from_numpy(np.frombuffer(payload, dtype=dtype).copy()).reshape(shape)


def _pages(model, seed=1):
    """Two pages through the model's own vision path: page 1 with a local tile (289 rows), page 2 without."""
    g = torch.Generator().manual_seed(seed)
    pixels = torch.randn(2, 3, 128, 128, generator=g)
    local = torch.randn(1, 3, 128, 128, generator=g)
    with torch.no_grad():
        feats = model.get_image_features(
            pixels, pixel_values_local=local, num_local_patches=[1, 0]
        ).pooler_output
    return pixels, local, list(feats)


def _has_mm_encoder_outputs(model) -> bool:
    return "mm_encoder_outputs" in inspect.signature(model.forward).parameters


@pytest.mark.parametrize("inject", ["mm_encoder_outputs", "inputs_embeds"])
def test_stored_rows_give_bit_identical_logits_to_the_pixel_path(tiny_model, tokenizer, inject):
    if inject == "mm_encoder_outputs" and not _has_mm_encoder_outputs(tiny_model):
        pytest.skip("this transformers has no mm_encoder_outputs (added after 5.17)")
    pixels, local, feats = _pages(tiny_model)
    stored = [_store_and_load(f) for f in feats]
    assert [s.shape[0] for s in stored] == [289, 145]
    assert all(torch.equal(a, b) for a, b in zip(stored, feats, strict=True))
    prompt = prompts.question_prompt("What is the total ?", ["report.pdf p. 1", "report.pdf p. 2"])
    ids = torch.tensor([build_inputs(tokenizer, prompt, [289, 145])])
    with torch.no_grad():
        reference = tiny_model(
            input_ids=ids, pixel_values=pixels, pixel_values_local=local, num_local_patches=[1, 0]
        ).logits[0]
    generator = Generator(tiny_model, tokenizer, inject=inject)
    assert generator.inject == inject
    assert torch.equal(generator.prompt_logits(stored, prompt), reference)


def test_auto_injection_uses_mm_encoder_outputs_when_available(tiny_model, tokenizer):
    expected = "mm_encoder_outputs" if _has_mm_encoder_outputs(tiny_model) else "inputs_embeds"
    assert Generator(tiny_model, tokenizer).inject == expected


def test_confidence_is_the_mean_chosen_token_log_prob(tiny_model, tokenizer):
    _, _, feats = _pages(tiny_model, seed=2)
    generator = Generator(tiny_model, tokenizer)
    out = generator.generate(
        feats, prompts.question_prompt("What is the total ?", ["a", "b"]), 8, stop_ids=()
    )
    assert len(out.token_ids) == len(out.logprobs) == 8 and out.finish_reason == "length"
    assert out.confidence == pytest.approx(sum(out.logprobs) / 8, abs=1e-12)
    assert out.vision_tokens == sum(f.shape[0] for f in feats)
    # Recompute without the KV cache: log-softmax of the full sequence at each chosen position.
    prompt_ids = generator.prompt_ids(feats, prompts.question_prompt("What is the total ?", ["a", "b"]))
    assert out.prompt_tokens == len(prompt_ids)
    full = torch.tensor([prompt_ids + out.token_ids[:-1]])
    with torch.no_grad():
        logits = tiny_model(**generator._model_inputs(full, feats)).logits[0, len(prompt_ids) - 1 :]
    logsm = torch.log_softmax(logits.float(), dim=-1)
    assert logits.argmax(-1).tolist() == out.token_ids  # greedy, guard idle
    expected = logsm.gather(-1, torch.tensor(out.token_ids)[:, None])[:, 0]
    assert out.logprobs == pytest.approx(expected.tolist(), abs=1e-5)
    assert out.confidence == pytest.approx(expected.mean().item(), abs=1e-5)
    assert not out.guard_fired and out.confidence <= 0


def test_batch_with_left_padding_matches_single_requests(tiny_model, tokenizer):
    _, _, feats = _pages(tiny_model, seed=3)
    requests = [
        Request([feats[1]], prompts.FREE_OCR),
        Request(
            feats, prompts.question_prompt("What is the total ?", ["report.pdf p. 1", "report.pdf p. 2"])
        ),
        Request([feats[0]], prompts.locate_prompt("total")),
    ]
    generator = Generator(tiny_model, tokenizer)
    batch = generator.generate_batch(requests, 6, stop_ids=())
    for request, got in zip(requests, batch, strict=True):
        single = generator.generate(request.pages_rows, request.prompt, 6, stop_ids=())
        assert got.token_ids == single.token_ids
        assert got.logprobs == pytest.approx(single.logprobs, abs=1e-4)
        assert got.prompt_tokens == single.prompt_tokens


def test_input_errors(tiny_model, tokenizer):
    generator = Generator(tiny_model, tokenizer)
    rows = torch.zeros(5, 32)
    with pytest.raises(ValueError, match="max_new_tokens"):
        generator.generate([rows], prompts.FREE_OCR, 0)
    with pytest.raises(ValueError, match="stored rows"):
        generator.generate([torch.zeros(5, 16)], prompts.FREE_OCR, 2)
    with pytest.raises(ValueError, match="placeholders"):
        generator.generate([rows, rows], prompts.FREE_OCR, 2)
    with pytest.raises(ValueError, match="image_token_id"):
        Generator(SimpleNamespace(config=SimpleNamespace(image_token_id=IMAGE_ID + 1)), tokenizer)


class ChainModel(nn.Module):
    """A fake decoder whose greedy choice is `successor[last token]`; other tokens follow a fixed preference.

    It keeps the model interface the Generator uses (embeddings, config.image_token_id, mm_encoder_outputs,
    past_key_values) but computes nothing, so a loop in `successor` loops forever unless the guard cuts it.
    """

    def __init__(self, successor: dict[int, int], default: int):
        super().__init__()
        self.config = SimpleNamespace(image_token_id=IMAGE_ID)
        self.embed = nn.Embedding(VOCAB_SIZE, 4)
        table = torch.full((VOCAB_SIZE,), default)
        for src, dst in successor.items():
            table[src] = dst
        self.register_buffer("table", table)
        preference = -torch.arange(VOCAB_SIZE, dtype=torch.float32) / VOCAB_SIZE  # distinct fallbacks
        preference[[EOS, IMAGE_ID, 0, 2]] = -100.0  # never stop, never emit specials
        self.register_buffer("preference", preference)

    def get_input_embeddings(self):
        return self.embed

    def forward(self, input_ids=None, mm_encoder_outputs=None, past_key_values=None, logits_to_keep=0, **_):
        logits = self.preference.expand(input_ids.shape[0], -1).clone()
        logits[torch.arange(input_ids.shape[0]), self.table[input_ids[:, -1]]] += 10.0
        return SimpleNamespace(logits=logits[:, None, :], past_key_values=past_key_values or "cache")


def _repeats(ids, n=30, window=90):
    """Positions t whose n-gram ending at t already occurred wholly inside the `window` tokens before t."""
    hits = []
    for t in range(n - 1, len(ids)):
        gram = ids[t - n + 1 : t + 1]
        past = ids[max(0, t - window) : t]
        if any(past[i : i + n] == gram for i in range(len(past) - n + 1)):
            hits.append(t)
    return hits


LOOP = list(range(20, 51))  # a 31-token cycle


def test_guard_cuts_a_30_gram_loop():
    successor = {a: b for a, b in zip(LOOP, LOOP[1:] + LOOP[:1], strict=True)}
    model, tokenizer, rows = ChainModel(successor, default=LOOP[0]), make_tokenizer(), [torch.zeros(3, 4)]
    looping = Generator(model, tokenizer, guard=False).generate(rows, prompts.FREE_OCR, 300)
    assert looping.token_ids[:62] == LOOP * 2 and _repeats(looping.token_ids)
    assert not looping.guard_fired

    guarded = Generator(model, tokenizer).generate(rows, prompts.FREE_OCR, 300)
    assert guarded.guard_fired and guarded.finish_reason == "length"
    assert guarded.token_ids[:60] == looping.token_ids[:60]  # untouched until the first repeat
    assert guarded.token_ids[60] != LOOP[60 % 31]  # 31 + 29 tokens: the 30-gram would recur
    assert _repeats(guarded.token_ids) == []  # no 30-gram ever repeats within 90 tokens
    assert guarded.confidence < looping.confidence  # forced off the model's choice


def test_guard_does_not_fire_on_repeating_table_tags():
    successor = {TD: 40, 40: END_TD, END_TD: TD}  # <td> x </td> <td> x </td> ...
    model, tokenizer, rows = ChainModel(successor, default=TD), make_tokenizer(), [torch.zeros(3, 4)]
    out = Generator(model, tokenizer).generate(rows, prompts.FREE_OCR, 200)
    assert not out.guard_fired
    assert out.token_ids == ([TD, 40, END_TD] * 67)[:200]
    # Under the official (token-scoped) exemption the repeated cell content is banned instead.
    official = Generator(model, tokenizer, exempt_scope="token").generate(rows, prompts.FREE_OCR, 200)
    assert official.guard_fired


def test_stops_on_eos_and_drops_it_from_the_text():
    successor = {VOCAB["Free"]: 30, 30: 31, 31: EOS}
    model, tokenizer = ChainModel(successor, default=30), make_tokenizer()
    model.preference[EOS] = 0.0
    prompt = "<image>\nFree"
    out = Generator(model, tokenizer).generate([torch.zeros(2, 4)], prompt, 50)
    assert out.token_ids == [30, 31, EOS] and out.finish_reason == "stop"
    assert out.text == tokenizer.decode([30, 31])
    assert len(out.logprobs) == 3 and math.isclose(out.confidence, sum(out.logprobs) / 3)
