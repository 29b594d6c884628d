"""requirements.lock agrees with pyproject.toml, and this environment is exactly the lock.

A stale lock (a dependency added, removed or re-ranged in pyproject without `make lock`) fails here, in CI.
"""

from __future__ import annotations

import re
import tomllib
from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[1]
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==(\S+)")


def locked() -> dict[str, tuple[Version, list[str], str]]:
    """name -> (pinned version, hashes, the block's annotation text)."""
    out: dict[str, tuple[Version, list[str], str]] = {}
    name = ""
    for line in (ROOT / "requirements.lock").read_text().splitlines():
        if m := PIN.match(line):
            name = canonicalize_name(m[1])
            out[name] = (Version(m[2]), [], "")
        elif name and (h := re.search(r"--hash=sha256:([0-9a-f]{64})", line)):
            out[name][1].append(h[1])
        elif name and line.lstrip().startswith("#"):
            version, hashes, notes = out[name]
            out[name] = (version, hashes, notes + line + "\n")
    return out


def declared() -> list[Requirement]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    return [Requirement(r) for r in project["dependencies"] + project["optional-dependencies"]["dev"]]


def test_every_declared_dependency_is_pinned_within_its_range():
    pins = locked()
    for req in declared():
        name = canonicalize_name(req.name)
        assert name in pins, f"{req.name} is in pyproject.toml but not in requirements.lock: run `make lock`"
        version = pins[name][0]
        assert req.specifier.contains(version, prereleases=True), (
            f"requirements.lock pins {req.name}=={version}, outside pyproject's {req.specifier}: "
            "run `make lock`"
        )


def test_the_lock_roots_are_exactly_pyprojects_dependencies():
    roots = {name for name, (_, _, notes) in locked().items() if "vtrag (pyproject.toml)" in notes}
    wanted = {canonicalize_name(r.name) for r in declared()}
    assert roots == wanted, (
        f"stale lock, run `make lock`: only locked {roots - wanted}, only declared {wanted - roots}"
    )


def test_every_pin_is_hashed_and_torch_is_the_cpu_build():
    pins = locked()
    assert all(hashes for _, hashes, _ in pins.values())
    assert pins["torch"][0].local == "cpu"  # the CPU wheel on the machine's disk, not the CUDA build


def test_this_environment_is_the_lock():
    mismatched = {}
    for name, (version, _, _) in locked().items():
        try:
            installed = Version(metadata.version(name))
        except metadata.PackageNotFoundError:
            installed = None
        if installed != version:
            mismatched[name] = (str(version), str(installed))
    assert not mismatched, (
        f"installed packages differ from requirements.lock (rerun `make venv`): {mismatched}"
    )
