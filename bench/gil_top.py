"""Who holds the GIL: a summary of a py-spy `--gil` recording.

    py-spy record --gil --threads [--subprocesses] -r 100 -f raw -o gil.txt -- python bench/build_host.py ...
    python bench/gil_top.py gil.txt --rate 100 [--process "index build"] [--top 15]

With `--gil`, py-spy samples only the thread holding the GIL, so a process's samples over the rate are the
seconds its interpreter was busy: when that approaches the wall time of the work, one core's worth of Python
bounds it however many cores the machine has. Prints each process's GIL seconds, then for the busiest (or
the one whose command line contains `--process`): seconds per thread (writer threads pooled by name) and
the frames of the project (indexer/, retriever/, encoder/, bench/) and of any library that hold it longest.
"""

from __future__ import annotations

import argparse
import re
from collections import Counter
from pathlib import Path

PROJECT = re.compile(r"\((?:.*/)?(indexer|retriever|encoder|decoder|api|bench)/[^)]*\)")


def parse(path: Path) -> list[tuple[str, str, list[str], int]]:
    """(process, thread, frames, samples) per line of a raw recording."""
    out = []
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        process, thread, frames = "", "", []
        for frame in stack.split(";"):
            if frame.startswith("process "):
                process, thread, frames = frame, "", []  # the innermost process wins
            elif frame.startswith("thread ("):
                thread = frame.split(": ", 1)[1] if ": " in frame else "unnamed"
            else:
                frames.append(frame)
        out.append((process, re.sub(r"_\d+$", "_*", thread), frames, int(count)))
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("raw", type=Path, help="py-spy record -f raw output")
    parser.add_argument("--rate", type=float, default=100, help="the recording's samples a second (-r)")
    parser.add_argument("--process", default="", help="summarise the process whose command line has this")
    parser.add_argument("--top", type=int, default=15)
    args = parser.parse_args()
    rows = parse(args.raw)
    per_process = Counter[str]()
    for process, _, _, n in rows:
        per_process[process] += n
    print("| process | GIL-held s |\n|---|---:|")
    for process, n in per_process.most_common(8):
        print(f"| {process[:110] or '(recorded process)'} | {n / args.rate:.2f} |")
    chosen = [p for p in per_process if args.process in p] if args.process else []
    target = max(chosen or per_process, key=per_process.__getitem__)
    mine = [(t, f, n) for p, t, f, n in rows if p == target]
    tables = {
        "thread": Counter[str](),
        "innermost project frame": Counter[str](),
        "innermost frame": Counter[str](),
    }
    for thread, frames, n in mine:
        tables["thread"][thread] += n
        project = [f for f in frames if PROJECT.search(f)]
        tables["innermost project frame"][project[-1] if project else "(none)"] += n
        tables["innermost frame"][frames[-1] if frames else "(idle)"] += n
    held = per_process[target] / args.rate
    print(f"\n{target[:120] or '(recorded process)'}: {held:.2f} s holding the GIL")
    for title, counter in tables.items():
        print(f"\n| {title} | s |\n|---|---:|")
        for key, n in counter.most_common(args.top):
            print(f"| {key[:150]} | {n / args.rate:.2f} |")
    by_thread: dict[str, Counter[str]] = {}
    for thread, frames, n in mine:
        where = " < ".join(reversed(frames[-2:])) if frames else "(idle)"
        by_thread.setdefault(thread, Counter())[where] += n
    for thread, counter in sorted(by_thread.items(), key=lambda kv: -sum(kv[1].values()))[:4]:
        print(f"\n| {thread}: innermost frames | s |\n|---|---:|")
        for key, n in counter.most_common(8):
            print(f"| {key[:160]} | {n / args.rate:.2f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
