"""`vtrag serve` as a real subprocess on a loopback port: started, waited for, SIGKILLed, started again."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

from api.cli.serve import serve_argv
from tests.api.conftest import KEYS

REPO = Path(__file__).resolve().parents[3]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class ServeProcess:
    """One `vtrag serve` process over `data`; its stderr goes to `<data>/../serve-N.log`.

    Args:
        data: the data dir (kept across restarts).
        env: extra VTRAG_* variables (API keys default to the test keys).
        command: a prefix that runs the server (e.g. `unshare ... sh -c`), for tests that need one.
    """

    _runs = 0

    def __init__(self, data: Path, env: dict[str, str] | None = None) -> None:
        self.data = data
        self.env = {"VTRAG_API_KEYS": KEYS, "VTRAG_WORKERS": "1", **(env or {})}
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen[bytes] | None = None
        self.log: Path | None = None

    def argv(self) -> list[str]:
        return serve_argv(sys.executable, port=self.port, data_dir=self.data)

    def start(self, argv: list[str] | None = None, timeout: float = 180) -> ServeProcess:
        """Start the server and wait until /readyz answers 200 (or the process dies)."""
        ServeProcess._runs += 1
        self.log = self.data.parent / f"serve-{ServeProcess._runs}.log"
        env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONUNBUFFERED": "1", **self.env}
        with self.log.open("wb") as log:
            # A new session, so SIGKILL takes the whole process group as a crash would.
            self.proc = subprocess.Popen(
                argv or self.argv(),
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
                cwd=REPO,
                start_new_session=True,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"vtrag serve exited {self.proc.returncode}:\n{self.output()}")
            try:
                if httpx.get(f"{self.base_url}/readyz", timeout=2).status_code in (200, 503):
                    return self
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        self.kill()
        raise RuntimeError(f"vtrag serve did not start:\n{self.output()}")

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log else ""

    def kill(self) -> None:
        """SIGKILL the server's process group (no cleanup runs)."""
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=60)

    def stop(self) -> None:
        """A clean stop (SIGTERM), as an operator would."""
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.kill()

    def client(self, key: str | None = None, timeout: float = 60) -> httpx.Client:
        from tests.api.conftest import API_KEY

        key = API_KEY if key is None else key
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        return httpx.Client(base_url=self.base_url, headers=headers, timeout=timeout)
