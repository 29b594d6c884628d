"""The few tokenizer operations the decoder needs, behind one small interface.

The decoder never depends on a concrete tokenizer class: prompt layout needs `encode` and `image_token_id`
(and `bos_token_id`), generation adds `decode`, `eos_token_id`, `pad_token_id` and `token_id`.
`Tokenizer` wraps either a transformers tokenizer (the real DeepSeek-OCR one, loaded from the weights
directory) or a bare `tokenizers.Tokenizer` (tests build a tiny vocabulary with it; no downloads).
"""

from __future__ import annotations

from typing import Any, Protocol

# Special tokens of the DeepSeek-OCR vocabulary (ids 0, 1, 128815, 128821, 128822 in the real one).
BOS_TOKEN = "<｜begin▁of▁sentence｜>"
EOS_TOKEN = "<｜end▁of▁sentence｜>"
PAD_TOKEN = "<｜▁pad▁｜>"
IMAGE_TOKEN = "<image>"
TABLE_TAGS = ("<td>", "</td>")


class TokenizerLike(Protocol):
    """What `prompts.build_inputs` needs: `encode` adds no special tokens; `bos_token_id` may be None."""

    image_token_id: int
    bos_token_id: int | None

    def encode(self, text: str) -> list[int]: ...


class Tokenizer:
    """Adapter over a transformers tokenizer or a `tokenizers.Tokenizer`.

    Args:
        tokenizer: a transformers `PreTrainedTokenizerBase` or a `tokenizers.Tokenizer`.
        image_token, bos_token, eos_token, pad_token: token strings, looked up in the vocabulary; for a
            transformers tokenizer its own bos/eos/pad ids win when set.
    Raises:
        ValueError: the vocabulary has no image token or no end-of-sentence token.
    """

    def __init__(
        self,
        tokenizer: Any,
        *,
        image_token: str = IMAGE_TOKEN,
        bos_token: str = BOS_TOKEN,
        eos_token: str = EOS_TOKEN,
        pad_token: str = PAD_TOKEN,
    ) -> None:
        self._tok = tokenizer
        # transformers tokenizers have convert_tokens_to_ids; `tokenizers.Tokenizer` has token_to_id.
        self._is_hf = hasattr(tokenizer, "convert_tokens_to_ids")
        image_id = self.token_id(image_token)
        if image_id is None:
            raise ValueError(f"the tokenizer has no {image_token!r} token")
        self.image_token_id: int = image_id
        self.bos_token_id: int | None = self._special_id("bos_token_id", bos_token)
        eos_id = self._special_id("eos_token_id", eos_token)
        if eos_id is None:
            raise ValueError(f"the tokenizer has no end-of-sentence token ({eos_token!r})")
        self.eos_token_id: int = eos_id
        pad_id = self._special_id("pad_token_id", pad_token)
        self.pad_token_id: int = pad_id if pad_id is not None else eos_id

    def _special_id(self, attr: str, token: str) -> int | None:
        own = getattr(self._tok, attr, None) if self._is_hf else None
        return own if isinstance(own, int) else self.token_id(token)

    def token_id(self, token: str) -> int | None:
        """The id of one vocabulary entry, or None when it is not in the vocabulary."""
        if self._is_hf:
            tid = self._tok.convert_tokens_to_ids(token)
            unk = getattr(self._tok, "unk_token_id", None)
            return (
                None
                if tid is None or (tid == unk and token != getattr(self._tok, "unk_token", None))
                else tid
            )
        return self._tok.token_to_id(token)

    def encode(self, text: str) -> list[int]:
        """Token ids of `text`, with no BOS/EOS added (special tokens written in the text are kept whole)."""
        if self._is_hf:
            return list(self._tok.encode(text, add_special_tokens=False))
        return list(self._tok.encode(text, add_special_tokens=False).ids)

    def decode(self, ids: list[int]) -> str:
        """Text of `ids`, special tokens kept: the grounding markup (`<|ref|>`, `<|det|>`) is made of them."""
        return self._tok.decode(ids, skip_special_tokens=False)
