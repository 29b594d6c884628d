"""Serve a Lite data dir over gRPC on a host/port, whichever milvus-lite is installed.

    python -m retriever.lite_server --data-dir D [--host 127.0.0.1] [--port 19530]

Clients then open `http://HOST:PORT` (the server-URI path: many processes, concurrent sharded builds). With
milvus-lite 3.x this runs its own `milvus-lite server`; with 2.5.x (no such command) it starts the bundled
C++ Milvus binary on the address (retriever/lite_core.py) and keeps it until SIGTERM/SIGINT. Tests and
bench/search_scale.py use it to exercise the server path on loopback without Docker.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
from pathlib import Path

from retriever.engine import lite_engine
from retriever.errors import RetrieverError
from retriever.lite_core import LiteCore

# milvus-lite 2.5 names its data file inside the dir; its name must match ^[a-zA-Z0-9.\-_]+$, ≤ 36 chars.
SERVED_DB = "served.db"


def main(argv: list[str] | None = None) -> int:
    """Run the server until terminated.

    Args:
        argv: command-line arguments (default: sys.argv[1:]).

    Returns:
        The exit status.
    """
    parser = argparse.ArgumentParser(prog="python -m retriever.lite_server", description=__doc__)
    parser.add_argument("--data-dir", required=True, type=Path)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=19530)
    args = parser.parse_args(argv)
    args.data_dir.mkdir(parents=True, exist_ok=True)
    if lite_engine().in_process:  # 3.x ships a gRPC server command of its own
        exe = Path(sys.executable).with_name("milvus-lite")
        cmd = [
            str(exe),
            "server",
            "--data-dir",
            str(args.data_dir),
            "--host",
            args.host,
            "--port",
            str(args.port),
        ]
        os.execv(cmd[0], cmd)
    server = LiteCore(args.data_dir / SERVED_DB, f"{args.host}:{args.port}")
    try:
        server.start()
    except RetrieverError as exc:
        print(f"cannot serve {args.data_dir} on {args.host}:{args.port}: {exc}", file=sys.stderr)
        return 1
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    stop.wait()
    server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
