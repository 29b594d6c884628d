"""Configuration of DeepSeek-OCR v1: transformers' DeepSeek-OCR-2 config classes with the vision side swapped.

v1 and OCR-2 share the SAM ViT-B front end and the DeepSeek-3B-MoE decoder, so both reuse the real
transformers classes (`DeepseekOcr2SamVisionConfig`, `DeepseekOcr2TextConfig`); v1 replaces OCR-2's Qwen2
query encoder with CLIP-L (`CLIPVisionConfig`) fed by the SAM features, and adds a linear 2048 -> 1280
projector and `image_newline`.

Works with transformers 5.17 (sub-configs built in each class's `__post_init__`, `sub_configs`) and 5.23
(`sub_configs_defaults`): dicts are turned into config objects here, before the parent `__post_init__` runs.
"""

from __future__ import annotations

import math
from typing import Any, cast

from transformers import CLIPVisionConfig, PreTrainedConfig
from transformers.models.deepseek_ocr2.configuration_deepseek_ocr2 import (
    DeepseekOcr2Config,
    DeepseekOcr2SamVisionConfig,
    DeepseekOcr2TextConfig,
)

from encoder.layout import v1_layout_for, v1_row_count
from encoder.modes import Mode, get_mode

IMAGE_TOKEN_ID = 128815  # `<image>` in the DeepSeek-OCR tokenizer (v1 and OCR-2 share it)

# SAM ViT-B of v1: OCR-2's SAM with a 1024-channel compressor (OCR-2: 896).
V1_SAM: dict[str, Any] = dict(
    hidden_size=768,
    num_hidden_layers=12,
    num_attention_heads=12,
    image_size=1024,
    patch_size=16,
    output_channels=256,
    window_size=14,
    global_attn_indexes=[2, 5, 8, 11],
    downsample_channels=[512, 1024],
    hidden_act="gelu",
    layer_norm_eps=1e-6,
    mlp_ratio=4.0,
    initializer_range=0.02,  # random init only (transformers' 1e-10 default would zero random SAM weights)
)
# CLIP-L/14 at 224 px: 16x16 positions + CLS, the same grid as the 1024 px SAM output after the compressor.
V1_CLIP: dict[str, Any] = dict(
    hidden_size=1024,
    intermediate_size=4096,
    num_hidden_layers=24,
    num_attention_heads=16,
    image_size=224,
    patch_size=14,
    hidden_act="quick_gelu",
    layer_norm_eps=1e-5,
    projection_dim=1024,
)
# DeepSeek-3B-MoE (identical in v1 and OCR-2).
V1_TEXT: dict[str, Any] = dict(
    vocab_size=129280,
    hidden_size=1280,
    intermediate_size=6848,
    num_hidden_layers=12,
    num_attention_heads=10,
    num_key_value_heads=10,
    moe_intermediate_size=896,
    n_routed_experts=64,
    n_shared_experts=2,
    num_experts_per_tok=6,
    topk_method="greedy",
    n_group=1,
    topk_group=1,
    routed_scaling_factor=1.0,
    max_position_embeddings=8192,
    bos_token_id=0,
    eos_token_id=1,
    rms_norm_eps=1e-6,
    mlp_layer_types=["dense"] + ["sparse"] * 11,
)


# config.json `vision_config.width.*` keys -> our config fields. The released file carries the first
# five (SAM) and first five (CLIP); the rest are written by `to_official` so tiny test models survive a
# round trip.
SAM_KEYS = {
    "width": "hidden_size",
    "layers": "num_hidden_layers",
    "heads": "num_attention_heads",
    "global_attn_indexes": "global_attn_indexes",
    "downsample_channels": "downsample_channels",
    "patch_size": "patch_size",
    "window_size": "window_size",
    "out_chans": "output_channels",
    "mlp_dim": "mlp_dim",
}
CLIP_KEYS = {
    "width": "hidden_size",
    "layers": "num_hidden_layers",
    "heads": "num_attention_heads",
    "image_size": "image_size",
    "patch_size": "patch_size",
    "intermediate_size": "intermediate_size",
}


def _plain(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value


def _as_config(value: Any, cls: type[PreTrainedConfig], defaults: dict[str, Any]) -> PreTrainedConfig:
    if isinstance(value, PreTrainedConfig):
        return value
    if value is None:
        return cls(**defaults)
    if isinstance(value, dict):
        return cls(**value)
    raise ValueError(f"expected a dict or {cls.__name__}, got {type(value).__name__}")


class DeepseekOcrVisionConfig(PreTrainedConfig):
    r"""DeepEncoder v1: SAM ViT-B (+ neck + 16x conv compressor) -> CLIP-L over the SAM features.

    sam_config (`dict` or `DeepseekOcr2SamVisionConfig`): the SAM encoder, its `downsample_channels[-1]` is
        the width of the SAM tokens handed to CLIP as patch embeddings.
    clip_config (`dict` or `CLIPVisionConfig`): the CLIP-L encoder; `image_size // patch_size` is the side of
        the grid its position embeddings were trained on (interpolated to other grids).
    """

    model_type = "deepseek_ocr_vision"
    base_config_key = "vision_config"
    # transformers 5.23 reads `sub_configs_defaults` (and turns the classes into specs), 5.17 `sub_configs`.
    sub_configs_defaults = {
        "sam_config": DeepseekOcr2SamVisionConfig,  # type: ignore[dict-item]
        "clip_config": CLIPVisionConfig,  # type: ignore[dict-item]
    }
    sub_configs = {"sam_config": DeepseekOcr2SamVisionConfig, "clip_config": CLIPVisionConfig}

    sam_config: dict | PreTrainedConfig | None = None
    clip_config: dict | PreTrainedConfig | None = None

    def __post_init__(self, **kwargs):
        self.sam_config = _as_config(self.sam_config, DeepseekOcr2SamVisionConfig, V1_SAM)
        self.clip_config = _as_config(self.clip_config, CLIPVisionConfig, V1_CLIP)
        super().__post_init__(**kwargs)
        sam, clip = self.sam, self.clip
        channels = list(sam.downsample_channels or [])
        if len(channels) != 2:
            raise ValueError(f"DeepEncoder v1 has two stride-2 convs; got downsample_channels={channels}")
        if clip.hidden_size != channels[-1]:
            raise ValueError(
                f"CLIP hidden_size ({clip.hidden_size}) must equal the SAM compressor's output channels "
                f"({channels[-1]}): the SAM tokens are CLIP's patch embeddings"
            )
        if sam.image_size % sam.patch_size:
            raise ValueError(
                f"SAM image_size {sam.image_size} is not a multiple of patch_size {sam.patch_size}"
            )
        if sam.window_size < 0:
            raise ValueError(f"SAM window_size must be >= 0, got {sam.window_size}")

    @property
    def sam(self) -> DeepseekOcr2SamVisionConfig:
        """`sam_config`, typed (always a config object after construction)."""
        return cast(DeepseekOcr2SamVisionConfig, self.sam_config)

    @property
    def clip(self) -> CLIPVisionConfig:
        """`clip_config`, typed."""
        return cast(CLIPVisionConfig, self.clip_config)

    @property
    def hidden_size(self) -> int:
        """Width of one DeepEncoder token: [CLIP token, SAM token] concatenated (1024 + 1024 = 2048)."""
        return int(self.clip.hidden_size + list(self.sam.downsample_channels or [0])[-1])

    def grid(self, size: int) -> int:
        """Tokens per side for a square view of `size` px: SAM patches, then two 3x3 stride-2 convs, pad 1."""
        patch = int(self.sam.patch_size)  # type: ignore[arg-type]  # an int in every config we build
        if size % patch:
            raise ValueError(f"view size {size} is not a multiple of the SAM patch size {patch}")
        side = size // patch
        for _ in range(2):
            side = math.ceil(side / 2)  # floor((n + 2*1 - 3) / 2) + 1
        return side


class DeepseekOcrConfig(DeepseekOcr2Config):
    r"""DeepSeek-OCR v1 = `DeepseekOcr2Config` with `DeepseekOcrVisionConfig` as the vision side.

    projector_type (`str`): only `"linear"` (the released checkpoint: Linear(2048, 1280)).
    Defaults (everything `None`) give the released model: `DeepseekOcrConfig()` == the official config.json.
    """

    model_type = "deepseek_ocr"
    sub_configs_defaults = {
        "vision_config": DeepseekOcrVisionConfig,  # type: ignore[dict-item]
        "text_config": DeepseekOcr2TextConfig,  # type: ignore[dict-item]
    }
    sub_configs = {"vision_config": DeepseekOcrVisionConfig, "text_config": DeepseekOcr2TextConfig}

    projector_type: str = "linear"

    def __post_init__(self, **kwargs):
        self.vision_config = _as_config(self.vision_config, DeepseekOcrVisionConfig, {})
        self.text_config = _as_config(self.text_config, DeepseekOcr2TextConfig, V1_TEXT)
        if self.projector_type != "linear":
            raise ValueError(
                "only the linear projector of the released checkpoint is supported, "
                f"got {self.projector_type!r}"
            )
        text = self.text
        if text.mlp_layer_types is None or len(text.mlp_layer_types) != text.num_hidden_layers:
            raise ValueError(
                "text_config.mlp_layer_types must give 'dense' or 'sparse' for every decoder layer"
            )
        if not 0 <= self.image_token_id < text.vocab_size:
            raise ValueError(
                f"image_token_id {self.image_token_id} is outside the vocabulary ({text.vocab_size})"
            )
        super().__post_init__(**kwargs)

    @property
    def vision(self) -> DeepseekOcrVisionConfig:
        """`vision_config`, typed (always a config object after construction)."""
        return cast(DeepseekOcrVisionConfig, self.vision_config)

    @property
    def text(self) -> DeepseekOcr2TextConfig:
        """`text_config`, typed."""
        return cast(DeepseekOcr2TextConfig, self.text_config)

    def token_rows(self, mode: Mode | str, width: int, height: int) -> int:
        """Rows one width x height page injects in `mode` with this model (for the released model this is
        `encoder.modes.token_rows`; tiny test models have smaller grids)."""
        mode = get_mode(mode) if isinstance(mode, str) else mode
        vision = self.vision
        grid = vision.grid(mode.size)
        tile = vision.grid(mode.tile) if mode.tiled else 0
        return v1_row_count((grid, grid), (tile, tile), v1_layout_for(width, height, mode))

    @classmethod
    def tiny(cls) -> DeepseekOcrConfig:
        """A random-weights test model with the real structure: SAM patch 32 so views stay small grids
        (Base 1024 px -> 8x8 tokens, Gundam tile 640 px -> 5x5), CLIP trained grid 8x8, 4 experts top-2."""
        sam = dict(
            V1_SAM,
            hidden_size=32,
            num_hidden_layers=2,
            num_attention_heads=2,
            image_size=1024,
            patch_size=32,
            output_channels=16,
            window_size=4,
            global_attn_indexes=[1],
            downsample_channels=[32, 64],
            mlp_dim=64,
        )
        clip = dict(
            V1_CLIP,
            hidden_size=64,
            intermediate_size=128,
            num_hidden_layers=2,
            num_attention_heads=2,
            image_size=8 * 14,
            patch_size=14,
            hidden_act="quick_gelu",
        )
        text: dict[str, Any] = dict(
            vocab_size=128,
            hidden_size=64,
            intermediate_size=128,
            num_hidden_layers=2,
            num_attention_heads=4,
            num_key_value_heads=4,
            moe_intermediate_size=32,
            n_routed_experts=4,
            n_shared_experts=1,
            num_experts_per_tok=2,
            topk_method="greedy",
            max_position_embeddings=2048,
            bos_token_id=0,
            eos_token_id=1,
            mlp_layer_types=["dense", "sparse"],
        )
        return cls(
            vision_config=DeepseekOcrVisionConfig(sam_config=sam, clip_config=clip),
            text_config=DeepseekOcr2TextConfig(**text),
            image_token_id=3,  # `<image>` in encoder.tiny's tokenizer
        )

    @classmethod
    def from_official(cls, official: dict[str, Any]) -> DeepseekOcrConfig:
        """Read the `config.json` of deepseek-ai/DeepSeek-OCR (model_type `deepseek_vl_v2`).

        Raises:
            ValueError: on a projector, tile tag or attention variant this implementation does not cover.
        """
        lang = official.get("language_config") or official
        if lang.get("use_mla", False) or lang.get("kv_lora_rank"):
            raise ValueError(
                "DeepSeek-OCR's decoder uses plain multi-head attention; MLA configs are unsupported"
            )
        if official.get("tile_tag", "2D") != "2D":
            raise ValueError(f"only tile_tag '2D' is supported, got {official.get('tile_tag')!r}")
        projector = official.get("projector_config", {})
        if projector.get("projector_type", "linear") != "linear":
            raise ValueError(
                f"only the linear projector is supported, got {projector.get('projector_type')!r}"
            )
        first_dense = int(lang.get("first_k_dense_replace", 1))
        layers = int(lang.get("num_hidden_layers", V1_TEXT["num_hidden_layers"]))
        text = {k: lang.get(k, v) for k, v in V1_TEXT.items() if k != "mlp_layer_types"}
        text["mlp_layer_types"] = ["dense"] * first_dense + ["sparse"] * (layers - first_dense)
        if "rope_theta" in lang:
            text["rope_parameters"] = {"rope_type": "default", "rope_theta": float(lang["rope_theta"])}

        vision = official.get("vision_config", {})
        widths = vision.get("width", {})
        sam_src, clip_src = widths.get("sam_vit_b", {}), widths.get("clip-l-14-224", {})
        sam = dict(V1_SAM, image_size=vision.get("image_size", V1_SAM["image_size"]))
        sam.update({ours: sam_src[theirs] for theirs, ours in SAM_KEYS.items() if theirs in sam_src})
        clip = dict(V1_CLIP)
        clip.update({ours: clip_src[theirs] for theirs, ours in CLIP_KEYS.items() if theirs in clip_src})
        if "intermediate_size" not in clip_src:
            clip["intermediate_size"] = 4 * clip["hidden_size"]
        extra = {"image_token_id": official["image_token_id"]} if "image_token_id" in official else {}
        config = cls(
            vision_config=DeepseekOcrVisionConfig(sam_config=sam, clip_config=clip),
            text_config=DeepseekOcr2TextConfig(**text),
            **extra,
        )
        n_embed = projector.get("n_embed", config.text.hidden_size)
        input_dim = projector.get("input_dim", config.vision.hidden_size)
        if (input_dim, n_embed) != (config.vision.hidden_size, config.text.hidden_size):
            raise ValueError(
                f"projector {input_dim}->{n_embed} does not match the encoder and decoder widths"
            )
        return config

    def to_official(self) -> dict[str, Any]:
        """The `config.json` layout of deepseek-ai/DeepSeek-OCR for this config (inverse of from_official)."""
        text, sam, clip = self.text, self.vision.sam, self.vision.clip
        layer_types = list(text.mlp_layer_types or [])
        first_dense = 0
        while first_dense < len(layer_types) and layer_types[first_dense] == "dense":
            first_dense += 1
        if any(t != "sparse" for t in layer_types[first_dense:]):
            raise ValueError("the official layout needs the dense layers first (first_k_dense_replace)")
        lang = {k: getattr(text, k) for k in V1_TEXT if k != "mlp_layer_types"}
        lang.update(
            first_k_dense_replace=first_dense,
            use_mla=False,
            kv_lora_rank=None,
            q_lora_rank=None,
            rope_theta=dict(text.rope_parameters or {}).get("rope_theta", 10000.0),
            architectures=["DeepseekV2ForCausalLM"],
        )
        return {
            "architectures": ["DeepseekOCRForCausalLM"],
            "model_type": "deepseek_vl_v2",
            "tile_tag": "2D",
            "global_view_pos": "head",
            "candidate_resolutions": [[1024, 1024]],
            "language_config": lang,
            "projector_config": {
                "projector_type": "linear",
                "model_type": "mlp_projector",
                "input_dim": self.vision.hidden_size,
                "n_embed": text.hidden_size,
            },
            "vision_config": {
                "model_type": "vision",
                "model_name": "deeplip_b_l",
                "image_size": sam.image_size,
                "width": {
                    "sam_vit_b": {theirs: _plain(getattr(sam, ours)) for theirs, ours in SAM_KEYS.items()},
                    "clip-l-14-224": {
                        theirs: _plain(getattr(clip, ours)) for theirs, ours in CLIP_KEYS.items()
                    },
                },
            },
            "image_token_id": self.image_token_id,
            **{k: lang[k] for k in ("vocab_size", "hidden_size", "bos_token_id", "eos_token_id")},
        }
