"""Task prompts and the token layout that puts stored vision rows into them.

DeepSeek-OCR prompts are plain text (no chat roles) with one `<image>` per image. The official
preprocessing splits the prompt at each `<image>`, encodes the text pieces without special tokens, replaces
each `<image>` by as many image-token ids as the image injects rows (layout rows included: Base = 273),
and puts one BOS in front; no EOS follows the prompt. `build_inputs` does exactly that for any row counts,
so stored rows of any mode (or of several pages) line up one-to-one with the placeholders.
"""

from __future__ import annotations

from collections.abc import Sequence

from decoder.tokenizer import IMAGE_TOKEN, TokenizerLike

MARKDOWN = f"{IMAGE_TOKEN}\n<|grounding|>Convert the document to markdown."
FREE_OCR = f"{IMAGE_TOKEN}\nFree OCR."
FIGURE = f"{IMAGE_TOKEN}\nParse the figure."
LOCATE = IMAGE_TOKEN + "\nLocate <|ref|>{text}<|/ref|> in the image."

QUESTION_INSTRUCTION = (
    "Answer the question using only the pages above. "
    "After each fact, cite the page it comes from in square brackets, e.g. [Page 1]."
)

# Markup a caller's text must not smuggle into a prompt: an extra `<image>` would shift every stored row,
# and the grounding tags would change the task.
_RESERVED = (IMAGE_TOKEN, "<|grounding|>", "<|ref|>", "<|/ref|>", "<|det|>", "<|/det|>")


def _plain(text: str) -> str:
    """`text` with the reserved markup defused (a space after `<`), so it is read as ordinary text."""
    for tag in _RESERVED:
        text = text.replace(tag, "< " + tag[1:])
    return text


def locate_prompt(text: str) -> str:
    """The grounding prompt that asks for the boxes of `text` on one page."""
    return LOCATE.format(text=_plain(text))


def page_label(index: int) -> str:
    """The label a multi-page prompt gives its `index`-th page (1-based), and the answer cites."""
    return f"Page {index}"


def question_prompt(question: str, page_titles: Sequence[str] | None = None) -> str:
    """A multi-page question: one labelled `<image>` block per page, then the instruction and the question.

    Args:
        question: the user's question (reserved markup in it is defused).
        page_titles: one short description per page, e.g. "report.pdf p. 3", shown after the label; its
            length is the number of pages. None or empty titles give bare labels.
    Returns:
        The prompt, with exactly one `<image>` per page, in page order.
    Raises:
        ValueError: no pages.
    """
    titles = list(page_titles or [])
    if not titles:
        raise ValueError("a question prompt needs at least one page")
    blocks = []
    for i, title in enumerate(titles, start=1):
        head = page_label(i) + (f" ({_plain(title)})" if title else "")
        blocks.append(f"{head}:\n{IMAGE_TOKEN}\n")
    return "".join(blocks) + f"{QUESTION_INSTRUCTION}\nQuestion: {_plain(question)}\nAnswer:"


def count_images(prompt: str) -> int:
    """Number of `<image>` placeholders in a prompt."""
    return prompt.count(IMAGE_TOKEN)


def build_inputs(
    tokenizer: TokenizerLike, prompt: str, rows_per_image: Sequence[int], *, add_bos: bool = True
) -> list[int]:
    """Token ids of `prompt` with the i-th `<image>` expanded into `rows_per_image[i]` image-token ids.

    Args:
        tokenizer: anything with `encode(text) -> list[int]` (no special tokens added), `image_token_id`,
            and `bos_token_id` (None: no BOS).
        prompt: text with one `<image>` per image, e.g. `prompts.MARKDOWN` or `question_prompt(...)`.
        rows_per_image: rows each image injects (stored rows per page, layout rows included).
        add_bos: put the BOS id first, as the official template does.
    Returns:
        input ids: [BOS] + text + n_1 image ids + text + ... ; `sum(rows_per_image)` of them are image ids.
    Raises:
        ValueError: placeholder count differs from `len(rows_per_image)`, a count is < 1, or the text
            pieces themselves encode to the image id.
    """
    pieces = prompt.split(IMAGE_TOKEN)
    if len(pieces) - 1 != len(rows_per_image):
        raise ValueError(
            f"the prompt has {len(pieces) - 1} {IMAGE_TOKEN} placeholders but {len(rows_per_image)} images "
            "were given"
        )
    if any(int(n) < 1 for n in rows_per_image):
        raise ValueError(f"every image needs at least one row, got {list(rows_per_image)}")
    image_id = tokenizer.image_token_id
    ids: list[int] = []
    bos = getattr(tokenizer, "bos_token_id", None)
    if add_bos and bos is not None:
        ids.append(bos)
    for i, piece in enumerate(pieces):
        if piece:
            text_ids = tokenizer.encode(piece)
            if image_id in text_ids:
                raise ValueError(f"prompt text encodes to the image token id {image_id}: {piece!r}")
            ids.extend(text_ids)
        if i < len(rows_per_image):
            ids.extend([image_id] * int(rows_per_image[i]))
    return ids
