"""Declarative name tables: official DeepSeek-OCR checkpoint names <-> our module names.

Templates use `{i}` for a layer/block index, `{e}` for an expert index and `{p}` for a parameter leaf
(`weight`, `bias`, ...). Conversions (split / stack) are written in checkpoint naming and run before the
renames.

The SAM, projector, separator and decoder rules restate transformers' `conversion_mapping["deepseek_ocr2"]`
(v1 and OCR-2 share those names); the CLIP rules are v1's own (`model.vision_model.*`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cached_property

_FIELDS = {"i": r"(?P<i>\d+)", "e": r"(?P<e>\d+)", "p": r"(?P<p>[A-Za-z_]+)"}


def _compile(template: str, prefix: bool) -> re.Pattern[str]:
    pattern = re.escape(template)
    for name, group in _FIELDS.items():
        pattern = pattern.replace(re.escape("{" + name + "}"), group, 1)
    return re.compile("^" + pattern + ("" if prefix else "$"))


@dataclass(frozen=True)
class Rename:
    """Checkpoint name prefix -> module name prefix (the rest of the name is kept)."""

    source: str
    target: str

    @cached_property
    def forward_re(self) -> re.Pattern[str]:
        return _compile(self.source, prefix=True)

    @cached_property
    def reverse_re(self) -> re.Pattern[str]:
        return _compile(self.target, prefix=True)

    def apply(self, name: str, reverse: bool = False) -> str | None:
        match = (self.reverse_re if reverse else self.forward_re).match(name)
        if match is None:
            return None
        head = (self.source if reverse else self.target).format(**match.groupdict())
        return head + name[match.end() :]


@dataclass(frozen=True)
class Split:
    """One checkpoint tensor -> len(targets) module tensors, equal chunks along dim 0 (fused q/k/v)."""

    source: str
    targets: tuple[str, ...]

    @cached_property
    def source_re(self) -> re.Pattern[str]:
        return _compile(self.source, prefix=False)

    @cached_property
    def target_res(self) -> tuple[re.Pattern[str], ...]:
        return tuple(_compile(t, prefix=False) for t in self.targets)


@dataclass(frozen=True)
class StackExperts:
    """Per-expert tensors -> one (E, ...) tensor: for each expert, `sources` pieces are concatenated along
    dim 0 of the expert's matrix (gate then up), then experts are stacked (transformers' fused experts)."""

    sources: tuple[str, ...]
    target: str

    @cached_property
    def source_res(self) -> tuple[re.Pattern[str], ...]:
        return tuple(_compile(s, prefix=False) for s in self.sources)

    @cached_property
    def target_re(self) -> re.Pattern[str]:
        return _compile(self.target, prefix=False)


@dataclass(frozen=True)
class RuleSet:
    conversions: tuple[Split | StackExperts, ...]
    renames: tuple[Rename, ...]
    # Checkpoint entries our modules rebuild themselves (buffers), accepted and skipped when present.
    ignored: tuple[str, ...] = ()

    @cached_property
    def ignored_res(self) -> tuple[re.Pattern[str], ...]:
        return tuple(_compile(t, prefix=False) for t in self.ignored)

    def ignores(self, name: str) -> bool:
        return any(r.match(name) for r in self.ignored_res)

    def rename(self, name: str, reverse: bool = False) -> str | None:
        """First matching rename (checkpoint -> module, or back); None when no rule covers the name."""
        for rule in self.renames:
            out = rule.apply(name, reverse)
            if out is not None:
                return out
        return None


SAM = "model.vision_tower.sam_encoder"
SAM_RENAMES = (
    Rename("model.sam_model.patch_embed.proj.", f"{SAM}.patch_embed.projection."),
    Rename("model.sam_model.pos_embed", f"{SAM}.pos_embed"),
    Rename("model.sam_model.blocks.{i}.norm1.", SAM + ".layers.{i}.layer_norm1."),
    Rename("model.sam_model.blocks.{i}.norm2.", SAM + ".layers.{i}.layer_norm2."),
    Rename("model.sam_model.blocks.{i}.attn.", SAM + ".layers.{i}.attn."),
    Rename("model.sam_model.blocks.{i}.mlp.", SAM + ".layers.{i}.mlp."),
    Rename("model.sam_model.neck.0.", f"{SAM}.neck.conv1."),
    Rename("model.sam_model.neck.1.", f"{SAM}.neck.layer_norm1."),
    Rename("model.sam_model.neck.2.", f"{SAM}.neck.conv2."),
    Rename("model.sam_model.neck.3.", f"{SAM}.neck.layer_norm2."),
    Rename("model.sam_model.net_2.", f"{SAM}.proj.conv1."),
    Rename("model.sam_model.net_3.", f"{SAM}.proj.conv2."),
)

CLIP = "model.vision_tower.clip_encoder"
CLIP_LAYER = "model.vision_model.transformer.layers.{i}."
CLIP_SPLITS = (
    Split(
        CLIP_LAYER + "self_attn.qkv_proj.{p}", tuple(CLIP_LAYER + f"self_attn.{x}_proj.{{p}}" for x in "qkv")
    ),
)
CLIP_RENAMES = (
    Rename("model.vision_model.embeddings.", f"{CLIP}.embeddings."),
    Rename("model.vision_model.pre_layrnorm.", f"{CLIP}.pre_layrnorm."),
    Rename(CLIP_LAYER, CLIP + ".layers.{i}."),
)

HEAD_RENAMES = (
    Rename("model.projector.layers.", "model.multi_modal_projector."),
    Rename("model.image_newline", "model.image_newline"),
    Rename("model.view_seperator", "model.view_separator"),
)

EXPERT = "model.layers.{i}.mlp.experts."
DECODER_STACKS = (
    StackExperts((EXPERT + "{e}.gate_proj.weight", EXPERT + "{e}.up_proj.weight"), EXPERT + "gate_up_proj"),
    StackExperts((EXPERT + "{e}.down_proj.weight",), EXPERT + "down_proj"),
)
DECODER_RENAMES = (
    Rename("model.embed_tokens.", "model.language_model.embed_tokens."),
    Rename("model.layers.{i}.", "model.language_model.layers.{i}."),
    Rename("model.norm.", "model.language_model.norm."),
    Rename("lm_head.", "lm_head."),
)

# The official CLIP module saves its `position_ids` (arange of the positions) with the weights; transformers'
# CLIP embeddings rebuild it as a non-persistent buffer, so a re-saved or fine-tuned checkpoint may carry it.
IGNORED = ("model.vision_model.embeddings.position_ids",)

DEEPSEEK_OCR_RULES = RuleSet(
    conversions=CLIP_SPLITS + DECODER_STACKS,
    renames=SAM_RENAMES + CLIP_RENAMES + HEAD_RENAMES + DECODER_RENAMES,
    ignored=IGNORED,
)
