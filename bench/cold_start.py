"""Cold start as a new user meets it: one `vtrag search` / `vtrag ask` process, and `vtrag serve` from launch.

    python bench/cold_start.py --data-dir DIR [--repeats 3] [--record]

DIR is an existing index (e.g. one built by bench/search_scale.py or `vtrag index build`). Measured, each a
median of --repeats fresh processes:
- `vtrag search QUERY --top-k 5`: wall time of the whole process, and its CPU time (user + sys, children
  included), which tells a loaded machine's queueing apart from work;
- `vtrag ask QUESTION`;
- `vtrag serve`: from launch until GET /v1/health answers, then the first and second POST /v1/search.
Prints one table; --record appends it to docs/BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import secrets
import statistics
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

QUERY = "Which NFL team represented the AFC at Super Bowl 50?"
BENCHMARKS = ROOT / "docs" / "BENCHMARKS.md"


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def cli(args: list[str]) -> tuple[float, float]:
    """(wall s, CPU s) of one `vtrag ARGS` process."""
    cpu0, t0 = _children_cpu(), time.perf_counter()
    subprocess.run([sys.executable, "-m", "api.cli", *args], cwd=ROOT, check=True, capture_output=True)
    return time.perf_counter() - t0, _children_cpu() - cpu0


def serve(data_dir: Path) -> tuple[float, float, float]:
    """(ready s, first search ms, second search ms) of one `vtrag serve`."""
    from api.client import Client, VtragError
    from tests.retriever.helpers import free_port

    key, port = secrets.token_urlsafe(24), free_port()
    env = {**os.environ, "VTRAG_API_KEYS": key, "HF_HUB_OFFLINE": "1"}
    cmd = [sys.executable, "-m", "api.cli", "serve", "--port", str(port), "--data-dir", str(data_dir)]
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        client = Client(base_url=f"http://127.0.0.1:{port}", api_key=key, max_retries=0)
        while True:
            try:
                client.health()
                break
            except VtragError:
                if proc.poll() is not None or time.perf_counter() - t0 > 120:
                    raise SystemExit("vtrag serve did not start") from None
                time.sleep(0.02)
        ready = time.perf_counter() - t0
        timings = []
        for _ in range(2):
            t1 = time.perf_counter()
            client.search(query=QUERY, top_k=5)
            timings.append((time.perf_counter() - t1) * 1000)
        return ready, timings[0], timings[1]
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--record", action="store_true")
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    where = ["--data-dir", str(args.data_dir)]
    searches = [cli(["search", QUERY, "--top-k", "5", *where]) for _ in range(args.repeats)]
    asks = [cli(["ask", QUERY, *where]) for _ in range(args.repeats)]
    serves = [serve(args.data_dir) for _ in range(args.repeats)]

    def med(values: list[float]) -> float:
        return statistics.median(values)

    rows = [
        "| measurement | median | runs | CPU s (user+sys) |",
        "|---|---:|---|---:|",
        f"| `vtrag search` process | {med([w for w, _ in searches]):.2f} s | "
        f"{', '.join(f'{w:.2f}' for w, _ in searches)} | {med([c for _, c in searches]):.2f} |",
        f"| `vtrag ask` process | {med([w for w, _ in asks]):.2f} s | "
        f"{', '.join(f'{w:.2f}' for w, _ in asks)} | {med([c for _, c in asks]):.2f} |",
        f"| `vtrag serve` ready (health answers) | {med([s[0] for s in serves]):.2f} s | "
        f"{', '.join(f'{s[0]:.2f}' for s in serves)} | |",
        f"| first POST /v1/search | {med([s[1] for s in serves]):.0f} ms | "
        f"{', '.join(f'{s[1]:.0f}' for s in serves)} | |",
        f"| second POST /v1/search | {med([s[2] for s in serves]):.0f} ms | "
        f"{', '.join(f'{s[2]:.0f}' for s in serves)} | |",
    ]
    from retriever.engine import lite_engine

    text = "\n".join(rows) + (
        f"\n\n`python bench/cold_start.py {' '.join(sys.argv[1:])}` — {date.today().isoformat()}, "
        f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"{lite_engine().name}, load average {os.getloadavg()[0]:.1f} at the end."
    )
    print(text)
    if args.record:
        with BENCHMARKS.open("a") as fh:
            fh.write("\n" + text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
