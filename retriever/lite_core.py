"""milvus-lite 2.5's Milvus binary (the C++ core), started by us.

milvus-lite 2.5 is a Python wrapper around one executable, `milvus_lite/lib/milvus DB ADDRESS LOG_LEVEL LOCK`,
that serves gRPC on a Unix socket (`unix:PATH`) or a TCP `host:port` and exits once the lock file it is given
is no longer locked by its parent. We replace pymilvus' own launcher for it (milvus_lite.server) because:
- it sleeps a fixed 0.5 s to see whether the child died, where the socket is ready in ~50 ms (a cold
  `vtrag search` has 1.5 s in all);
- importing `milvus_lite` imports `pkg_resources` (a deprecated part of setuptools, scanned at import);
- a failed second open unlinks the lock file the first process holds, so nobody can tell it is in use.

The lock is the same one milvus-lite takes (`lockf` on `.<name>.lock` beside the file): one process per
`.db`, and processes that use milvus_lite's own launcher on the same file still exclude each other with us.
A `kill -9` of our process releases the lock and the child exits by itself.
"""

from __future__ import annotations

import fcntl
import os
import re
import socket
import subprocess
import tempfile
import threading
import time
from importlib.util import find_spec
from pathlib import Path
from typing import IO

from retriever.errors import StoreLockedError, StoreUnavailableError

# How long the binary may take to start serving (it opens its data file first).
START_TIMEOUT_S = 60.0
_POLL_S = 0.005
LOG_LEVEL = "ERROR"
# glog's prefix of an ERROR line: E, then MMDD or YYYYMMDD, then the time.
_GLOG_ERROR = re.compile(r"^E\d{4,8} \d")
# What marks a failed write among them: the request it served ("[SERVER][Insert]", "[AddTokenDoc]" for BM25
# statistics, ...) or the storage's own words. A failed search or query is its caller's error already.
_WRITE_FAILURE = re.compile(r"\[(Insert|Upsert|Delete|AddTokenDoc|Flush)\]|disk is full|No space left", re.I)


def failed_writes(log_text: str) -> list[str]:
    """The lines of the binary's log that say a write failed."""
    return [line for line in log_text.splitlines() if _GLOG_ERROR.match(line) and _WRITE_FAILURE.search(line)]


def lock_path(db_path: Path) -> Path:
    """The lock file milvus-lite 2.5 uses for `db_path`."""
    return db_path.with_name(f".{db_path.name}.lock")


def core_log_path(db_path: Path) -> Path:
    """Where the binary's own log lines go (errors only, appended): beside the file, not the terminal.

    Every failure the binary logs also reaches its client as an error, or is caught by the store's read-back
    (retriever/readback.py), and is reported once as such; its raw lines stay here for whoever debugs it.
    """
    return db_path.with_name(f".{db_path.name}.core.log")


def binary_dir() -> Path:
    """`milvus_lite/lib` (the binary and its shared libraries), found without importing milvus_lite.

    Raises:
        RuntimeError: milvus-lite is not installed.
    """
    spec = find_spec("milvus_lite")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError(
            "milvus-lite is not installed: use a Milvus server URI (--milvus-uri http://host:19530)"
        )
    return Path(next(iter(spec.submodule_search_locations))) / "lib"


class LiteCore:
    """One running Milvus binary over a `.db` file.

    Args:
        db_path: the data file (the binary wants a name of ≤ 36 characters from [A-Za-z0-9._-]).
        address: "host:port" to serve gRPC on TCP; None serves on a private Unix socket.
    """

    def __init__(self, db_path: Path, address: str | None = None) -> None:
        self.db_path = db_path
        self.address = address
        self._socket = None if address else f"{tempfile.mktemp(prefix='vtrag-milvus-')}.sock"
        self._lock: IO[str] | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None
        self._log_read = 0  # bytes of the log already looked at by `logged_failures`
        self._log_lock = threading.Lock()  # a build's writer threads look after their writes at once

    @property
    def uri(self) -> str:
        """What MilvusClient connects to."""
        return f"http://{self.address}" if self.address else f"unix:{self._socket}"

    def start(self, timeout: float = START_TIMEOUT_S) -> None:
        """Take the lock and start the binary; return once it accepts connections.

        Raises:
            StoreLockedError: another process has the file open.
            StoreUnavailableError: the binary exited or did not start serving within `timeout`.
        """
        self._lock = open(lock_path(self.db_path), "a")  # noqa: SIM115 - held until stop()
        try:
            fcntl.lockf(self._lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            self._lock.close()  # closing our own fd leaves the holder's lock (and file) alone
            self._lock = None
            raise StoreLockedError(str(self.db_path)) from exc
        lib = binary_dir()
        env = {**os.environ, "LD_LIBRARY_PATH": f"{lib}:{os.environ.get('LD_LIBRARY_PATH', '')}"}
        # The binary watches the lock file and exits when we let go of it, or die (kill -9 included).
        where = self.address or self.uri
        args = [str(lib / "milvus"), str(self.db_path), where, LOG_LEVEL, str(lock_path(self.db_path))]
        self._log = open(core_log_path(self.db_path), "ab")  # noqa: SIM115 - held until stop()
        self._log_read = self._log.tell()
        self._proc = subprocess.Popen(
            args,
            env=env,
            cwd=str(self.db_path.parent),
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=self._log,
        )
        deadline = time.monotonic() + timeout
        while not self._serving():
            if self._proc.poll() is not None or time.monotonic() > deadline:
                code = self._proc.poll()
                self.stop()
                raise StoreUnavailableError(
                    f"milvus-lite could not open {self.db_path} "
                    + (
                        f"(exit status {code})"
                        if code is not None
                        else f"(not serving after {timeout:.0f} s)"
                    )
                    + f"; its log: {core_log_path(self.db_path)}"
                )
            time.sleep(_POLL_S)

    def logged_failures(self) -> list[str]:
        """Failed-write lines the binary logged since the last call.

        The binary acknowledges some writes it failed to store: with its disk full it logs "Insert data
        failed, errs: database or disk is full" and answers the insert with success, and its in-memory
        segment even serves the rows back until it restarts. Its log is the only place that says so, and
        glog writes an error line before the request is answered, so a caller looks here after each write.
        """
        if self._log is None:
            return []
        path = core_log_path(self.db_path)
        with self._log_lock:
            try:
                if path.stat().st_size <= self._log_read:
                    return []
                with open(path, "rb") as log:
                    log.seek(self._log_read)
                    new = log.read()
            except OSError:
                return []
            self._log_read += len(new)
        return failed_writes(new.decode("utf-8", "replace"))

    def _serving(self) -> bool:
        # Connect, not just look for the socket file: it appears at bind(), before the binary listens.
        try:
            if self._socket is not None:
                with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
                    probe.settimeout(0.2)
                    probe.connect(self._socket)
                return True
            host, _, port = str(self.address).rpartition(":")
            with socket.create_connection((host, int(port)), timeout=0.2):
                return True
        except OSError:
            return False

    def stop(self) -> None:
        """Release the lock and wait for the binary to exit (terminating it if it does not)."""
        if self._lock is not None:
            fcntl.lockf(self._lock, fcntl.LOCK_UN)
            self._lock.close()
            self._lock = None
        if self._proc is not None:
            try:
                self._proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
            self._proc = None
        if self._log is not None:
            self._log.close()
            self._log = None
        if self._socket is not None:
            Path(self._socket).unlink(missing_ok=True)
