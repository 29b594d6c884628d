"""`vtrag index build --gpus all|N|0,2,…` and `--processes N`: one shard process per GPU (or per CPU share),
all writing into one Milvus, their progress merged into one bar (or one JSON stream and one summary).

Each child is the same `vtrag index build` with `--shard i/N --json` added, pinned to its GPU through
CUDA_VISIBLE_DEVICES (so it sees one device, `cuda:0`). A local index (a data dir, no `--milvus-uri`) is one
Lite file that only one process may open, so the launcher serves it itself for the duration: it starts the
Milvus binary on a loopback port over the very file the data dir uses (retriever/lite_core.py), hands the
children that URI, and stops it at the end, so later commands open the data dir as usual.
"""

from __future__ import annotations

import json
import os
import queue
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from api.cli.common import EXIT_BAD_INPUT, EXIT_FILES_FAILED, EXIT_STORE, fail
from api.cli.progress import BuildProgress

# Options of `index build` that the launcher owns: the children never see them.
LAUNCHER_OPTIONS = ("--gpus", "--processes")
_SEVERITY = (0, EXIT_FILES_FAILED, EXIT_BAD_INPUT, EXIT_STORE)  # later is worse


def parse_gpus(spec: str) -> list[int]:
    """GPU ids from `all`, a count (`2`: the first two) or a list (`0,2`); a clear error if there are none."""
    import torch

    visible = torch.cuda.device_count()
    if spec == "all":
        ids = list(range(visible))
    elif spec.isdigit():
        ids = list(range(int(spec)))
    else:
        try:
            ids = [int(part) for part in spec.split(",")]
        except ValueError:
            fail(f"--gpus takes all, a count or ids like 0,2; got {spec!r}", EXIT_BAD_INPUT)
    if not ids:
        fail("--gpus: no CUDA GPU is visible here; on CPUs use --processes N", EXIT_BAD_INPUT)
    bad = [i for i in ids if not 0 <= i < visible] or ([] if len(set(ids)) == len(ids) else ids)
    if bad:
        fail(f"--gpus {spec}: this machine shows {visible} CUDA GPU(s), ids 0..{visible - 1}", EXIT_BAD_INPUT)
    return ids


def child_argv(argv: list[str]) -> list[str]:
    """`index build …` arguments without the launcher's own options (`--gpus X`, `--gpus=X`, …)."""
    out: list[str] = []
    skip = False
    for arg in argv:
        if skip:
            skip = False
        elif arg in LAUNCHER_OPTIONS:
            skip = True
        elif not arg.startswith(tuple(f"{o}=" for o in LAUNCHER_OPTIONS)):
            out.append(arg)
    return out


def launch(
    argv: list[str],
    *,
    shards: int,
    gpus: list[int] | None,
    index_uri: str,
    served: bool,
    as_json: bool,
    device: str = "cpu",
) -> int:
    """Run `shards` shard processes of `vtrag index build argv` and merge what they report.

    Args:
        argv: the build's own arguments (paths and options), without the launcher's.
        shards: how many processes (one per GPU in `gpus` when given).
        gpus: GPU ids, one per shard, or None for CPU processes.
        index_uri: a Milvus server URI, or the data dir's Lite file to serve for the children.
        served: index_uri is a server already (the children use it as it is).
        as_json: print the children's JSON events and one summary instead of a bar.
        device: the children's `--device` (with `--processes` and cuda: every shard on the one GPU).

    Returns:
        The exit status: the worst of the children's (store error > bad input > files failed > ok).
    """
    core = None
    uri = index_uri
    if not served:
        from retriever.errors import RetrieverError
        from retriever.lite_core import LiteCore

        core = LiteCore(Path(index_uri), address=f"127.0.0.1:{_free_port()}")
        try:
            core.start()
        except RetrieverError as exc:
            fail(str(exc), EXIT_STORE)
        uri = core.uri
    started = time.perf_counter()
    try:
        codes, done = _run_children(argv, shards, gpus, uri, as_json)
    finally:
        if core is not None:
            core.stop()
    seconds = time.perf_counter() - started
    status = max(codes, key=lambda c: _SEVERITY.index(c) if c in _SEVERITY else len(_SEVERITY))
    summary = _summary(done, codes, gpus, seconds, device)
    progress = BuildProgress(as_json=as_json, interactive=False)
    progress.on_event(summary)
    return status


def _run_children(
    argv: list[str], shards: int, gpus: list[int] | None, uri: str, as_json: bool
) -> tuple[list[int], list[dict[str, Any]]]:
    events: queue.Queue[dict[str, Any] | None] = queue.Queue()
    procs = []
    for i in range(shards):
        env = dict(os.environ)
        extra = ["--shard", f"{i}/{shards}", "--milvus-uri", uri, "--json"]
        if gpus is not None:
            env["CUDA_VISIBLE_DEVICES"] = str(gpus[i])  # the child sees one GPU: its cuda:0
            if "--device" not in argv:
                extra += ["--device", "cuda"]
        cmd = [sys.executable, "-m", "api.cli", "index", "build", *argv, *extra]
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True, env=env)
        procs.append(proc)
        threading.Thread(target=_pump, args=(proc, i, events), daemon=True).start()
    done: list[dict[str, Any]] = []
    progress = BuildProgress(as_json=as_json, interactive=sys.stderr.isatty())
    with progress:
        for event in _until_all_closed(events, shards):
            if event["event"] == "done":
                done.append(event)  # merged into one summary at the end
            else:
                progress.on_event(event)
    return [proc.wait() for proc in procs], done


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _pump(proc: subprocess.Popen[str], shard: int, events: queue.Queue[dict[str, Any] | None]) -> None:
    assert proc.stdout is not None
    for line in proc.stdout:
        if line.strip():
            try:
                event = json.loads(line)
            except json.JSONDecodeError:
                continue  # not an event (a library's stray print): the child's stderr carries its errors
            events.put({**event, "shard": shard})
    events.put(None)


def _until_all_closed(events: queue.Queue[dict[str, Any] | None], shards: int) -> Any:
    open_streams = shards
    while open_streams:
        event = events.get()
        if event is None:
            open_streams -= 1
        else:
            yield event


def _summary(
    done: list[dict[str, Any]], codes: list[int], gpus: list[int] | None, seconds: float, device: str
) -> dict:
    files: dict[str, int] = {}
    for event in done:
        for status, n in event["files"].items():
            files[status] = files.get(status, 0) + n
    pages = sum(event["pages_written"] for event in done)
    return {
        "event": "done",
        "files": files,
        "skipped": sum(event["skipped"] for event in done),
        "pages_written": pages,
        "seconds": round(seconds, 3),
        "pages_per_second": round(pages / seconds, 2) if seconds > 0 else 0.0,
        "shards": [
            {
                "shard": i,
                "device": f"cuda:{gpus[i]}" if gpus is not None else device,
                "exit_code": code,
                "pages_written": next((e["pages_written"] for e in done if e["shard"] == i), 0),
            }
            for i, code in enumerate(codes)
        ],
    }
