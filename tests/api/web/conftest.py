"""Web page fixtures: `vtrag serve` (the real command) on a loopback port over a small index, and a headless
Chromium driven by Selenium through Debian's chromedriver (nothing downloads a browser)."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.conftest import cli_command, run_cli

API_KEY = "web-test-key-0123456789"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")
# Without the background-networking flags Chromium calls home, which a closed network refuses.
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--window-size=1280,1000",
)
# Two of the repository's example documents: real-looking pages for the screenshots.
ROOT = Path(__file__).resolve().parents[3]
EXAMPLES = ROOT / "examples"
CORPUS = ("harbour-lighthouse.pdf", "country-loaf.pdf")


@dataclass
class Site:
    base_url: str
    root: Path

    def http(self, key: str | None = None) -> httpx.Client:
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        return httpx.Client(base_url=self.base_url, headers=headers, timeout=120)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    """`vtrag index build` over two PDFs, then `vtrag serve` on them; reads open, writes need API_KEY."""
    if CHROMIUM is None or CHROMEDRIVER is None:
        pytest.skip(
            "no Chromium here: the web page tests need Debian's chromium and chromium-driver "
            "(apt-get install chromium chromium-driver; .ci/run installs them)"
        )
    root = tmp_path_factory.mktemp("web")
    docs = root / "docs"
    docs.mkdir()
    for name in CORPUS:
        shutil.copy(EXAMPLES / name, docs / name)
    data = root / "data"
    run_cli("index", "build", str(docs), "--data-dir", str(data), check=True)
    port = _free_port()
    env = {
        **os.environ,
        "HF_HUB_OFFLINE": "1",
        "VTRAG_API_KEYS": API_KEY,
        "VTRAG_PUBLIC_READS": "1",
        "VTRAG_WORKERS": "1",
        "PYTHONUNBUFFERED": "1",
    }
    log = (root / "serve.log").open("w")
    serve = (
        "serve",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--data-dir",
        str(data),
        "--log-level",
        "warning",
    )
    proc = subprocess.Popen(cli_command(*serve), stdout=log, stderr=subprocess.STDOUT, env=env, cwd=ROOT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 300
        while True:
            if proc.poll() is not None:
                log_text = (root / "serve.log").read_text()
                raise AssertionError(f"vtrag serve exited {proc.returncode}: {log_text}")
            try:
                if httpx.get(f"{base}/readyz", timeout=5).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise AssertionError("vtrag serve did not become ready")
            time.sleep(0.3)
        yield Site(base, root)
    finally:
        proc.terminate()
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


@pytest.fixture(scope="module")
def browser(site: Site) -> Iterator[object]:
    """Headless Chromium through chromedriver, with a fresh profile."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service as DriverService

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM  # type: ignore[assignment]
    profile = tempfile.mkdtemp(prefix="vtrag-chromium-", dir=site.root)
    for flag in (*CHROMIUM_FLAGS, f"--user-data-dir={profile}"):
        options.add_argument(flag)
    driver = webdriver.Chrome(options=options, service=DriverService(CHROMEDRIVER))  # type: ignore[arg-type]
    driver.set_script_timeout(60)
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture
def shots(site: Site) -> Path:
    """Where the tests save their screenshots (the module's tmp dir)."""
    folder = site.root / "screenshots"
    folder.mkdir(exist_ok=True)
    return folder
