"""Fine-tune a span reader (decoder/span_reader.py) from a local BERT-family model on question/answer pairs.

Standard extractive QA training: each (question, context) pair is cut into the reader's windows; a window
that holds the whole answer is labelled with its first and last token, one that does not with [CLS]
(position 0: "not here"), so long contexts teach the model to stay quiet; the loss is the mean of the start
and end cross-entropies; AdamW with linear warm-up and decay. Deterministic for a seed on the CPU.

Batches are drawn in length buckets (shuffle, sort each run of 50 batches by length, shuffle the batches), so
a batch pads to similar lengths: on a CPU that is most of the cost. With `bf16` the forward runs in bfloat16
autocast on the CPU too (always on CUDA). Every `checkpoint_every` steps the model, optimiser and schedule
are saved beside `out`, and a rerun with the same examples and config resumes from there (the batch order of
each epoch comes from the seed and the epoch alone), so a CPU run of hours survives being stopped.

The result is written to a temporary folder beside `out` and renamed into place last, so a killed run never
leaves a folder that looks finished.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch

from decoder.span_reader import MODEL_INPUTS, READER_FORMAT, READER_META, encode_windows
from encoder.quiet import quiet_loading


@dataclass(frozen=True)
class QaExample:
    """One training question: `answer_start` is the char offset of `answer` in `context`; -1 (and an empty
    answer) marks a negative: a context that does not answer the question."""

    question: str
    context: str
    answer: str
    answer_start: int


@dataclass
class TrainConfig:
    """Hyper-parameters (the usual ones for small BERTs on SQuAD-style data, not tuned per dataset)."""

    epochs: int = 3
    lr: float = 1e-4
    batch_size: int = 32
    warmup: float = 0.1
    weight_decay: float = 0.01
    seed: int = 13
    save_dtype: str = "float32"  # or "float16": half the folder size; the reader loads it as float32
    bf16: bool = False  # bfloat16 autocast on the CPU (CUDA always trains in it)
    bucket: bool = True  # batches of similar length (less padding)
    checkpoint_every: int = 200  # steps between resumable checkpoints (0: none)
    threads: int = 0  # torch CPU threads (0: torch's default)


def locate_answer(context: str, answer: str) -> int:
    """Char offset of `answer` in `context` (exact first, then case-insensitive); -1 if absent."""
    at = context.find(answer)
    return at if at >= 0 else context.lower().find(answer.lower())


def features(tokenizer: Any, examples: Sequence[QaExample]) -> dict[str, torch.Tensor]:
    """Windows of all examples with start/end token labels (0 = [CLS] when the window misses the answer)."""
    enc = encode_windows(tokenizer, [e.question for e in examples], [e.context for e in examples])
    starts, ends = [], []
    for w, owner in enumerate(enc["overflow_to_sample_mapping"].tolist()):
        ex = examples[owner]
        a0, a1 = ex.answer_start, ex.answer_start + len(ex.answer)
        seq = enc.sequence_ids(w)
        offsets = enc["offset_mapping"][w].tolist()
        ctx = [t for t, sid in enumerate(seq) if sid == 1]
        s = e = 0
        if ex.answer_start >= 0 and ctx and offsets[ctx[0]][0] <= a0 and offsets[ctx[-1]][1] >= a1:
            s = next(t for t in ctx if offsets[t][1] > a0)
            e = next(t for t in reversed(ctx) if offsets[t][0] < a1)
        starts.append(s)
        ends.append(e)
    out = {k: enc[k] for k in MODEL_INPUTS if k in enc}
    out["start_positions"] = torch.tensor(starts)
    out["end_positions"] = torch.tensor(ends)
    return out


def train_reader(
    base_model: Path,
    examples: Sequence[QaExample],
    out: Path,
    config: TrainConfig,
    *,
    device: str = "cpu",
    on_step: Callable[[int, int, float], None] | None = None,
) -> dict[str, Any]:
    """Fine-tune `base_model` (a local folder) on `examples` and write the reader folder `out`.

    Args:
        base_model: BERT-family model folder (config.json, weights, tokenizer files); its encoder weights are
            the starting point, the span head starts random.
        examples: training questions with located answers, and negatives (answer_start -1).
        out: the reader folder to write (replaced if it exists).
        config: hyper-parameters.
        device: torch device ("cuda" trains in bf16 autocast).
        on_step: called as (step, total_steps, loss) after each optimiser step.

    Returns:
        The metadata written to `out/vtrag-reader.json` (without the caller's additions).

    Raises:
        FileNotFoundError: `base_model` lacks config.json or tokenizer.json.
        FloatingPointError: the loss diverged (nothing is written).
    """
    from transformers import AutoModelForQuestionAnswering, AutoTokenizer

    if not examples:
        raise ValueError("no training examples")
    for name in ("config.json", "tokenizer.json"):
        if not (Path(base_model) / name).is_file():
            raise FileNotFoundError(f"{base_model} has no {name}: not a local model folder")
    torch.manual_seed(config.seed)
    if config.threads > 0:
        torch.set_num_threads(config.threads)
    tokenizer = AutoTokenizer.from_pretrained(str(base_model), local_files_only=True)
    # float32 master weights whatever the folder stores: AdamW's updates vanish (and its state overflows) in
    # half precision, and transformers would otherwise keep a float16 checkpoint's dtype.
    with quiet_loading():
        model = AutoModelForQuestionAnswering.from_pretrained(
            str(base_model), local_files_only=True, dtype=torch.float32
        )
    model.to(device).train()
    data = features(tokenizer, examples)
    n = data["input_ids"].shape[0]
    steps_per_epoch = math.ceil(n / config.batch_size)
    total = steps_per_epoch * config.epochs
    optimiser = torch.optim.AdamW(_param_groups(model, config.weight_decay), lr=config.lr)
    warm = max(1, int(config.warmup * total))
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimiser, lambda step: min((step + 1) / warm, max(0.0, (total - step) / max(1, total - warm)))
    )
    use_bf16 = device.startswith("cuda") or config.bf16
    ckpt = Checkpoint(out, config, n)
    step = ckpt.restore(model, optimiser, schedule)
    started = time.perf_counter()
    lengths = data["attention_mask"].sum(1)
    for epoch in range(config.epochs):
        for k, rows in enumerate(batches(lengths, config, epoch)):
            if epoch * steps_per_epoch + k < step:
                continue  # done before the checkpoint this run resumed from
            batch = {key: v[rows].to(device) for key, v in data.items()}
            width = int(batch["attention_mask"].sum(1).max())  # drop the all-padding tail of this batch
            batch = {key: (v[:, :width] if v.dim() == 2 else v) for key, v in batch.items()}
            with torch.autocast(device.split(":")[0], dtype=torch.bfloat16, enabled=use_bf16):
                loss = model(**batch).loss
            if not torch.isfinite(loss):
                raise FloatingPointError(
                    f"the training loss became {float(loss)} at step {step + 1}; try a lower --lr"
                )
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimiser.step()
            schedule.step()
            optimiser.zero_grad(set_to_none=True)
            step += 1
            if on_step is not None:
                on_step(step, total, loss.item())
            if config.checkpoint_every and step % config.checkpoint_every == 0 and step < total:
                ckpt.save(model, optimiser, schedule, step)
    meta = {
        "format": READER_FORMAT,
        "base_model": str(base_model),
        "examples": sum(e.answer_start >= 0 for e in examples),
        "negatives": sum(e.answer_start < 0 for e in examples),
        "windows": n,
        "steps": total,
        "device": device,
        "train_seconds": round(time.perf_counter() - started, 1),  # this run's share, if it resumed
        "config": asdict(config),
    }
    _save(model.eval(), tokenizer, out, meta, config.save_dtype)
    ckpt.remove()
    return meta


def batches(lengths: torch.Tensor, config: TrainConfig, epoch: int) -> list[torch.Tensor]:
    """The row indexes of each batch of one epoch: a seeded shuffle, in length buckets when configured."""
    generator = torch.Generator().manual_seed(config.seed * 1000 + epoch)
    order = torch.randperm(len(lengths), generator=generator)
    if not config.bucket:
        return list(order.split(config.batch_size))
    out: list[torch.Tensor] = []
    for chunk in order.split(config.batch_size * 50):
        ranked = chunk[torch.argsort(lengths[chunk], stable=True)]
        out += list(ranked.split(config.batch_size))
    return [out[i] for i in torch.randperm(len(out), generator=generator).tolist()]


class Checkpoint:
    """The resumable state of one training run, kept beside the reader folder it will write."""

    def __init__(self, out: Path, config: TrainConfig, windows: int) -> None:
        self.path = Path(out).parent / f".{Path(out).name}.checkpoint.pt"
        self.key = {"config": asdict(config), "windows": windows}

    def restore(self, model: Any, optimiser: Any, schedule: Any) -> int:
        """Load a checkpoint of the same run, if any; returns the steps already done (0: fresh start)."""
        if not self.path.is_file():
            return 0
        state = torch.load(self.path, weights_only=False)
        if state.get("key") != self.key:
            return 0  # another run's: this one starts over and will replace it
        model.load_state_dict(state["model"])
        optimiser.load_state_dict(state["optimiser"])
        schedule.load_state_dict(state["schedule"])
        torch.set_rng_state(state["rng"])  # dropout masks continue as in an unbroken run
        return int(state["step"])

    def save(self, model: Any, optimiser: Any, schedule: Any, step: int) -> None:
        state = {"key": self.key, "model": model.state_dict(), "optimiser": optimiser.state_dict(),
                 "schedule": schedule.state_dict(), "step": step, "rng": torch.get_rng_state()}  # fmt: skip
        tmp = self.path.with_suffix(".tmp")
        torch.save(state, tmp)
        os.replace(tmp, self.path)

    def remove(self) -> None:
        self.path.unlink(missing_ok=True)


def write_meta(out: Path, meta: dict[str, Any]) -> None:
    """Replace the metadata of a written reader folder (atomically)."""
    tmp = out / (READER_META + ".tmp")
    tmp.write_text(json.dumps(meta, indent=2) + "\n")
    os.replace(tmp, out / READER_META)


def _param_groups(model: torch.nn.Module, weight_decay: float) -> list[dict[str, Any]]:
    # No decay on biases and LayerNorm weights, as in BERT's own recipe.
    decay: list[torch.nn.Parameter] = []
    plain: list[torch.nn.Parameter] = []
    for p in model.parameters():
        (plain if p.ndim < 2 else decay).append(p)
    return [{"params": decay, "weight_decay": weight_decay}, {"params": plain, "weight_decay": 0.0}]


def _save(model: Any, tokenizer: Any, out: Path, meta: dict[str, Any], dtype: str) -> None:
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}-"))
    try:
        if dtype == "float16":
            model = model.half()
        with quiet_loading():
            model.save_pretrained(str(tmp))
            tokenizer.save_pretrained(str(tmp))
        write_meta(tmp, meta)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    # Swap by renames: at every moment `out` is either the old reader or the new one, never half of each.
    old = None
    if out.exists():
        old = out.with_name(f"{tmp.name}-old")
        os.replace(out, old)
    os.replace(tmp, out)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
