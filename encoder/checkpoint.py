"""Official DeepSeek-OCR checkpoints <-> our modules: checked import, exact export, the weights-folder check.

`load_official_checkpoint` reads the safetensors of deepseek-ai/DeepSeek-OCR (names `model.sam_model.*`,
`model.vision_model.*`, `model.projector.*`, `model.image_newline`, `model.view_seperator`,
`model.embed_tokens`, `model.layers.N.*` with per-expert MLPs, `model.norm`, `lm_head`) through the tables in
`checkpoint_rules`, checks every name and shape before copying anything, and raises `CheckpointError`
listing what is missing, unexpected or mis-shaped. `write_synthetic_checkpoint` is the exact inverse (used
by tests and `vtrag model check`). Building whole models from a folder is `encoder/loading.py`.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from functools import partial
from pathlib import Path

import torch
from safetensors import safe_open
from safetensors.torch import save_file
from torch import nn

from encoder.checkpoint_rules import DEEPSEEK_OCR_RULES, RuleSet, Split, StackExperts

CHECKPOINT_FILE = "model-00001-of-000001.safetensors"  # the released single-shard name
_LIST_LIMIT = 25

V1_SOURCE = "deepseek-ai/DeepSeek-OCR"
OCR2_SOURCE = "deepseek-community/DeepSeek-OCR-2"
# Tensors kept in float32 whatever dtype the model loads in: the MoE router's weight (`mlp.gate.weight`).
# The released model routes in float32 (transformers >= 5.24 keeps it so, `_keep_in_fp32_modules_strict`);
# a bf16 router would pick other experts for some tokens. Same rule for both backends and every transformers.
FP32_TENSORS = ("gate.weight",)


def is_fp32_tensor(name: str) -> bool:
    """Whether a module tensor (state_dict name) stays float32 under a half-precision load."""
    return any(name == suffix or name.endswith("." + suffix) for suffix in FP32_TENSORS)


def keep_fp32_tensors(model: nn.Module) -> list[str]:
    """Cast the FP32_TENSORS of `model` to float32 in place (values kept); returns their names."""
    kept = []
    with torch.no_grad():
        for name, param in model.named_parameters():
            if is_fp32_tensor(name):
                param.data = param.data.float()
                kept.append(name)
    return kept


class CheckpointError(ValueError):
    """The checkpoint does not match the model; every offending name is listed (checkpoint naming)."""

    def __init__(
        self,
        where: str,
        missing: list[str],
        unexpected: list[str],
        mismatched: list[tuple[str, tuple[int, ...], tuple[int, ...]]],
    ):
        self.missing, self.unexpected, self.mismatched = missing, unexpected, mismatched
        lines = [f"checkpoint at {where} does not match the model:"]
        for title, items in (("missing", missing), ("unexpected", unexpected)):
            if items:
                shown = ", ".join(items[:_LIST_LIMIT]) + (
                    f", ... ({len(items) - _LIST_LIMIT} more)" if len(items) > _LIST_LIMIT else ""
                )
                lines.append(f"  {title} ({len(items)}): {shown}")
        if mismatched:
            shown = "; ".join(
                f"{n}: checkpoint {list(c)} vs model {list(m)}" for n, c, m in mismatched[:_LIST_LIMIT]
            )
            lines.append(f"  mis-shaped ({len(mismatched)}): {shown}")
        super().__init__("\n".join(lines))


class WeightsNotFoundError(FileNotFoundError):
    """No usable local weights; the message says how to get them (nothing is downloaded here)."""

    def __init__(self, directory: str | Path | None, repo: str, problem: str):
        self.directory, self.repo = directory, repo
        super().__init__(
            f"{repo} weights not found: {problem}. No weights are downloaded here. "
            "On a machine with internet access "
            f"run `huggingface-cli download {repo} --local-dir {repo.split('/')[-1]}` (or `git clone "
            f"https://huggingface.co/{repo}`), copy that folder to this machine, and point VTRAG_WEIGHTS_DIR "
            "(CLI: --weights) at it. It must hold config.json, the *.safetensors files and the tokenizer "
            "files."
        )


def check_weights_dir(directory: str | Path | None, repo: str) -> Path:
    """The directory as a Path if it holds config.json and safetensors; WeightsNotFoundError otherwise."""
    if directory is None or str(directory) == "":
        raise WeightsNotFoundError(directory, repo, "no weights directory is configured")
    path = Path(directory).expanduser()
    if not path.is_dir():
        raise WeightsNotFoundError(directory, repo, f"{path} is not a directory")
    if not (path / "config.json").is_file():
        raise WeightsNotFoundError(directory, repo, f"{path} has no config.json")
    if not any(path.glob("*.safetensors")):
        raise WeightsNotFoundError(directory, repo, f"{path} has no *.safetensors files")
    return path


class _Shards:
    """Lazy access to every tensor of the *.safetensors files in a directory."""

    def __init__(self, directory: Path, device: str = "cpu"):
        self.files = sorted(directory.glob("*.safetensors"))
        self.handles = [safe_open(str(f), framework="pt", device=device) for f in self.files]
        self.where: dict[str, int] = {}
        for k, handle in enumerate(self.handles):
            for name in handle.keys():  # noqa: SIM118 (a safetensors handle is not iterable)
                self.where[name] = k

    def shape(self, name: str) -> tuple[int, ...]:
        return tuple(self.handles[self.where[name]].get_slice(name).get_shape())

    def get(self, name: str) -> torch.Tensor:
        return self.handles[self.where[name]].get_tensor(name)

    def part(self, name: str, k: int, n: int) -> torch.Tensor:
        """Chunk k of n along dim 0 (one of fused q/k/v)."""
        return self.get(name).chunk(n, dim=0)[k]

    def stacked(self, order: list[list[str]]) -> torch.Tensor:
        """(E, sum of piece rows, ...): per expert its pieces concatenated on dim 0, experts stacked."""
        return torch.stack([torch.cat([self.get(n) for n in names], dim=0) for names in order])


def checkpoint_names(
    model_name: str, shape: tuple[int, ...], rules: RuleSet = DEEPSEEK_OCR_RULES
) -> list[str]:
    """The checkpoint names that feed one module tensor (for messages and for writing)."""
    name = rules.rename(model_name, reverse=True)
    if name is None:
        return [model_name]
    for conv in rules.conversions:
        if isinstance(conv, StackExperts) and (m := conv.target_re.match(name)):
            return [s.format(e=e, **m.groupdict()) for e in range(shape[0]) for s in conv.sources]
        if isinstance(conv, Split):
            for target_re in conv.target_res:
                if m := target_re.match(name):
                    return [conv.source.format(**m.groupdict())]
    return [name]


def _plan(shards: _Shards, expected: dict[str, torch.Tensor], rules: RuleSet, where: str):
    """Map every checkpoint tensor onto a module tensor; raise CheckpointError before any copy."""
    plan: dict[str, tuple[tuple[int, ...], Callable[[], torch.Tensor]]] = {}
    unexpected: list[str] = []
    missing: list[str] = []
    groups: dict[tuple[StackExperts, str], dict[tuple[int, int], str]] = {}
    incomplete: set[str] = set()  # fused tensors with some experts absent (those are listed, not all)

    def add(model_name: str | None, source: str, shape: tuple[int, ...], load: Callable[[], torch.Tensor]):
        if model_name is None or model_name not in expected or model_name in plan:
            unexpected.append(source)
        else:
            plan[model_name] = (shape, load)

    for name in sorted(shards.where):
        if rules.ignores(name):
            continue
        conv_hit = False
        for conv in rules.conversions:
            if isinstance(conv, Split) and (m := conv.source_re.match(name)):
                conv_hit, shape, n = True, shards.shape(name), len(conv.targets)
                for k, target in enumerate(conv.targets):
                    part = (shape[0] // n, *shape[1:])
                    add(
                        rules.rename(target.format(**m.groupdict())),
                        name,
                        part,
                        partial(shards.part, name, k, n),
                    )
            elif isinstance(conv, StackExperts):
                for piece, source_re in enumerate(conv.source_res):
                    if m := source_re.match(name):
                        conv_hit = True
                        fields = {k: v for k, v in m.groupdict().items() if k != "e"}
                        groups.setdefault((conv, conv.target.format(**fields)), {})[(piece, int(m["e"]))] = (
                            name
                        )
            if conv_hit:
                break
        if not conv_hit:
            add(rules.rename(name), name, shards.shape(name), partial(shards.get, name))

    for (conv, target), pieces in groups.items():
        model_name = rules.rename(target)
        if model_name is None or model_name not in expected:
            unexpected.extend(sorted(pieces.values()))
            continue
        n_experts = expected[model_name].shape[0]
        wanted = {(p, e) for p in range(len(conv.sources)) for e in range(n_experts)}
        unexpected.extend(sorted(pieces[k] for k in pieces.keys() - wanted))
        absent = sorted(wanted - pieces.keys(), key=lambda k: (k[1], k[0]))
        if absent:
            fields = conv.target_re.match(target).groupdict()  # type: ignore[union-attr]
            missing.extend(conv.sources[p].format(e=e, **fields) for p, e in absent)
            incomplete.add(model_name)
            continue
        shapes = [shards.shape(pieces[(p, 0)]) for p in range(len(conv.sources))]
        rows = sum(s[0] for s in shapes)
        order = [[pieces[(p, e)] for p in range(len(conv.sources))] for e in range(n_experts)]
        plan[model_name] = ((n_experts, rows, *shapes[0][1:]), partial(shards.stacked, order))

    for model_name in expected.keys() - plan.keys() - incomplete:
        missing.extend(checkpoint_names(model_name, tuple(expected[model_name].shape), rules))
    mismatched = [
        (", ".join(checkpoint_names(n, tuple(expected[n].shape), rules)[:2]), shape, tuple(expected[n].shape))
        for n, (shape, _) in sorted(plan.items())
        if shape != tuple(expected[n].shape)
    ]
    if missing or unexpected or mismatched:
        raise CheckpointError(where, sorted(set(missing)), sorted(set(unexpected)), mismatched)
    return plan


def load_official_checkpoint(
    model: nn.Module, directory: str | Path, rules: RuleSet = DEEPSEEK_OCR_RULES
) -> set[str]:
    """Copy an official-layout checkpoint into `model` (any device/dtype; tensors are cast on copy).

    Args:
        model: a `DeepseekOcrForConditionalGeneration` (or any module the rules describe).
        directory: folder with the *.safetensors files.
    Returns:
        The module names (state_dict keys) that were loaded — all of them.
    Raises:
        CheckpointError: listing missing, unexpected and mis-shaped names; nothing is copied in that case.
    """
    directory = Path(directory)
    shards = _Shards(directory)
    if not shards.files:
        raise CheckpointError(str(directory), ["*.safetensors"], [], [])
    targets = model.state_dict(keep_vars=True)
    plan = _plan(shards, targets, rules, str(directory))
    with torch.no_grad():
        for model_name, (_, load) in plan.items():
            targets[model_name].copy_(load())
    return set(plan)


def official_state_dict(
    model: nn.Module, rules: RuleSet = DEEPSEEK_OCR_RULES, dtype: torch.dtype | None = None
) -> dict[str, torch.Tensor]:
    """The model's tensors under their official checkpoint names (experts unstacked, q/k/v fused)."""
    out: dict[str, torch.Tensor] = {}
    fused: dict[str, list[torch.Tensor | None]] = {}
    for model_name, tensor in model.state_dict().items():
        tensor = tensor.detach().to(dtype=dtype or tensor.dtype)
        if tensor.device.type != "meta":  # meta tensors give names and shapes without memory
            tensor = tensor.cpu()
        name = rules.rename(model_name, reverse=True)
        if name is None:
            raise ValueError(f"no checkpoint rule covers module tensor {model_name}")
        handled = False
        for conv in rules.conversions:
            if isinstance(conv, StackExperts) and (m := conv.target_re.match(name)):
                for e in range(tensor.shape[0]):
                    for s, piece in zip(conv.sources, tensor[e].chunk(len(conv.sources), dim=0), strict=True):
                        out[s.format(e=e, **m.groupdict())] = piece.clone()
                handled = True
            elif isinstance(conv, Split):
                for k, target_re in enumerate(conv.target_res):
                    if m := target_re.match(name):
                        parts = fused.setdefault(
                            conv.source.format(**m.groupdict()), [None] * len(conv.targets)
                        )
                        parts[k] = tensor
                        handled = True
            if handled:
                break
        if not handled:
            out[name] = tensor.clone()
    for name, parts in fused.items():
        if any(p is None for p in parts):
            raise ValueError(f"cannot fuse {name}: some of its parts are missing from the model")
        out[name] = torch.cat(parts, dim=0)  # type: ignore[arg-type]
    return out


def write_synthetic_checkpoint(
    model: nn.Module,
    directory: str | Path,
    dtype: torch.dtype | None = None,
    rules: RuleSet = DEEPSEEK_OCR_RULES,
) -> set[str]:
    """Write `model` in the official layout: one safetensors shard + an official-style config.json.

    Args:
        model: a `DeepseekOcrForConditionalGeneration`; its config must have `to_official()`.
        directory: created if needed. dtype: cast tensors (default: keep the model's dtype).
    Returns:
        The checkpoint names written.
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    tensors = {k: v.contiguous() for k, v in official_state_dict(model, rules, dtype).items()}
    save_file(tensors, str(directory / CHECKPOINT_FILE), metadata={"format": "pt"})
    to_official = getattr(model.config, "to_official", None)
    if to_official is not None:
        (directory / "config.json").write_text(json.dumps(to_official(), indent=2))
    return set(tensors)
