import pytest

from decoder import prompts
from decoder.prompts import build_inputs, question_prompt
from tests.decoder.conftest import IMAGE_ID, VOCAB


def test_task_prompts_are_the_official_ones():
    assert prompts.MARKDOWN == "<image>\n<|grounding|>Convert the document to markdown."
    assert prompts.FREE_OCR == "<image>\nFree OCR."
    assert prompts.FIGURE == "<image>\nParse the figure."
    assert prompts.locate_prompt("the total") == "<image>\nLocate <|ref|>the total<|/ref|> in the image."


@pytest.mark.parametrize("rows", [[273], [73, 111], [273, 421, 1, 273, 73]])
def test_placeholders_equal_rows_for_several_pages(tokenizer, rows):
    prompt = question_prompt("What is the total ?", [f"report.pdf p. {i}" for i in range(1, len(rows) + 1)])
    assert prompts.count_images(prompt) == len(rows)
    ids = build_inputs(tokenizer, prompt, rows)
    assert ids[0] == VOCAB["<｜begin▁of▁sentence｜>"]  # one BOS, as the official template
    assert ids.count(IMAGE_ID) == sum(rows)
    # Each page's placeholders form one contiguous run of exactly its row count, in page order.
    runs, run = [], 0
    for tid in ids:
        if tid == IMAGE_ID:
            run += 1
        elif run:
            runs.append(run)
            run = 0
    assert runs + ([run] if run else []) == rows
    # The text between the runs is the page labels, so answers can cite them.
    text = tokenizer.decode(ids)
    assert all(f"Page {i}" in text for i in range(1, len(rows) + 1))


def test_single_page_layout_matches_the_official_template(tokenizer):
    ids = build_inputs(tokenizer, prompts.FREE_OCR, [3])
    assert ids == [VOCAB["<｜begin▁of▁sentence｜>"], IMAGE_ID, IMAGE_ID, IMAGE_ID] + tokenizer.encode(
        "\nFree OCR."
    )
    assert build_inputs(tokenizer, prompts.FREE_OCR, [3], add_bos=False) == ids[1:]


def test_mismatched_counts_and_bad_rows_are_errors(tokenizer):
    with pytest.raises(ValueError, match="2 images"):
        build_inputs(tokenizer, prompts.MARKDOWN, [273, 273])
    with pytest.raises(ValueError, match="at least one row"):
        build_inputs(tokenizer, prompts.MARKDOWN, [0])
    with pytest.raises(ValueError, match="at least one page"):
        question_prompt("why?", [])


def test_user_text_cannot_add_placeholders_or_grounding(tokenizer):
    prompt = question_prompt("What is <image> <|ref|>x<|/ref|> ?", ["a <image> title"])
    assert prompts.count_images(prompt) == 1
    assert "<|ref|>" not in prompt
    ids = build_inputs(tokenizer, prompt, [5])
    assert ids.count(IMAGE_ID) == 5
    assert prompts.count_images(prompts.locate_prompt("<image>")) == 1


class _BareTokenizer:
    """The minimal interface: encode + image_token_id (no BOS attribute at all)."""

    image_token_id = 7

    def encode(self, text):
        return [ord(c) % 5 for c in text]


def test_minimal_tokenizer_interface():
    ids = build_inputs(_BareTokenizer(), "<image>ab<image>", [2, 3])
    assert ids == [7, 7, ord("a") % 5, ord("b") % 5, 7, 7, 7]


def test_adapter_over_a_transformers_tokenizer_matches_the_bare_one(tokenizer):
    from transformers import PreTrainedTokenizerFast

    from decoder.tokenizer import BOS_TOKEN, EOS_TOKEN, PAD_TOKEN, Tokenizer

    fast = PreTrainedTokenizerFast(
        tokenizer_object=tokenizer._tok,
        bos_token=BOS_TOKEN,
        eos_token=EOS_TOKEN,
        pad_token=PAD_TOKEN,
        unk_token="<unk>",
    )
    wrapped = Tokenizer(fast)
    assert (wrapped.image_token_id, wrapped.bos_token_id, wrapped.eos_token_id, wrapped.pad_token_id) == (
        tokenizer.image_token_id,
        tokenizer.bos_token_id,
        tokenizer.eos_token_id,
        tokenizer.pad_token_id,
    )
    prompt = question_prompt("What is the total ?", ["report.pdf p. 1"])
    assert build_inputs(wrapped, prompt, [7]) == build_inputs(tokenizer, prompt, [7])
    assert wrapped.token_id("<td>") == VOCAB["<td>"] and wrapped.token_id("no-such-token") is None
    ids = wrapped.encode("<|ref|> total <|/ref|>")
    assert wrapped.decode(ids).replace(" ", "") == "<|ref|>total<|/ref|>"  # special tokens kept


def test_adapter_needs_an_image_token():
    from tokenizers import Tokenizer as Raw
    from tokenizers.models import WordLevel

    from decoder.tokenizer import Tokenizer

    with pytest.raises(ValueError, match="<image>"):
        Tokenizer(Raw(WordLevel({"<unk>": 0}, unk_token="<unk>")))
