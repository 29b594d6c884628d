"""Milvus Lite engines open in this process: one per data file, kept while any Connection uses it.

milvus-lite 3.x runs one in-process server per data dir until released, 2.5 one child process
(retriever/lite_core.py). Opens are counted here so the last close releases the lock and another process
can open the file.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path

from retriever.engine import Engine
from retriever.errors import StoreLockedError
from retriever.lite_core import LiteCore

_lite_lock = threading.Lock()
_lite_opens: dict[str, _LiteOpen] = {}


@dataclass
class _LiteOpen:
    core: LiteCore | None  # the 2.5 core we started; None for 3.x, which pymilvus runs in-process
    count: int = 0


def acquire_lite(path: Path, engine: Engine) -> str:
    """Count one more open of a Lite file in this process, starting its engine on the first; returns what
    MilvusClient connects to (the path for 3.x, the core's socket for 2.5)."""
    key = str(path)
    with _lite_lock:
        held = _lite_opens.get(key)
        if held is None:
            if engine.in_process:
                if engine.lock_held_elsewhere(key):
                    raise StoreLockedError(key)
                held = _LiteOpen(None)
            else:
                core = LiteCore(path)
                core.start()  # StoreLockedError when another process has the file
                held = _LiteOpen(core)
            _lite_opens[key] = held
        held.count += 1
        return held.core.uri if held.core is not None else key


def release_lite(path: str) -> None:
    with _lite_lock:
        held = _lite_opens.get(path)
        if held is None:
            return
        held.count -= 1
        if held.count > 0:
            return
        del _lite_opens[path]
        if held.core is not None:
            held.core.stop()
            return
        # Imported here: milvus_lite is only needed (and only installed, in a slim server image) for Lite.
        from milvus_lite.server_manager import server_manager_instance

        server_manager_instance.release_server(path)


def lite_failures(path: str) -> list[str]:
    """Failed-write lines the 2.5 core of `path` has logged (none for 3.x or a file not open here)."""
    held = _lite_opens.get(path)
    return held.core.logged_failures() if held is not None and held.core is not None else []


def lite_endpoint(path: str) -> str | None:
    """The socket of the 2.5 core this process runs for `path`, which other processes of this machine can
    connect to while it is open here; None for 3.x (in-process) or a file not open here."""
    held = _lite_opens.get(path)
    return held.core.uri if held is not None and held.core is not None else None
