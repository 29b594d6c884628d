"""`make lint-deploy` (deploy/lint.py): the shipped deploy/ passes, and each kind of breakage fails it."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def lint(folder: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(REPO / "deploy" / "lint.py"), str(folder)],
        capture_output=True, text=True, cwd=REPO, timeout=300,
    )  # fmt: skip


@pytest.fixture
def deploy(tmp_path: Path) -> Path:
    """A copy of deploy/ to break."""
    return Path(shutil.copytree(REPO / "deploy", tmp_path / "deploy"))


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, f"{old!r} is not in {path.name}"
    path.write_text(text.replace(old, new, 1))


def test_the_shipped_deploy_folder_passes() -> None:
    proc = lint(REPO / "deploy")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert [line.split()[0] for line in proc.stdout.splitlines() if line.strip()] == ["ok"] * 4


@pytest.mark.parametrize(
    ("file", "old", "new", "what", "says"),
    [
        # a misspelt field: Kubernetes' own schema (strict) rejects it
        ("k8s/api.yaml", "  replicas: 2\n", "  replica: 2\n", "kubernetes", "api.yaml"),
        # a wrong type
        ("k8s/api.yaml", "containerPort: 8000", 'containerPort: "http"', "kubernetes", "api.yaml"),
        # an Indexed Job whose --shard N differs from its completions
        ("k8s/index-job.yaml", "  completions: 4\n", "  completions: 5\n", "kubernetes", "completions is 5"),
        # a shell-style variable: Kubernetes would pass it through unexpanded
        (
            "k8s/index-job.yaml",
            "$(JOB_COMPLETION_INDEX)",
            "${JOB_COMPLETION_INDEX}",
            "kubernetes",
            "no --shard",
        ),
        # compose: a key the compose spec does not have, an unpinned image, an undeclared volume
        ("compose.yaml", "    restart: unless-", "    restarts: unless-", "compose", "restarts"),
        ("compose.yaml", "milvusdb/milvus:v3.0.0", "milvusdb/milvus:latest", "compose", "not pinned"),
        ("compose.yaml", '["milvus:/var/lib/milvus"]', '["milvs:/var/lib/milvus"]', "compose", "'milvs'"),
        # Helm values: a misspelt top-level key, standalone mode
        ("helm/milvus-values.yaml", "queryNode:\n", "querynode:\n", "helm values", "querynode"),
        (
            "helm/milvus-values.yaml",
            "  enabled: true\n\nimage",
            "  enabled: false\n\nimage",
            "helm values",
            "",
        ),
        # a Dockerfile that runs as root
        ("Dockerfile.cpu", "USER 10001:10001\n", "USER root\n", "dockerfiles", "DL3002"),
    ],
)
def test_a_broken_file_fails_the_check(
    deploy: Path, file: str, old: str, new: str, what: str, says: str
) -> None:
    edit(deploy / file, old, new)
    proc = lint(deploy)
    assert proc.returncode == 1, proc.stdout
    failed = [line[5:] for line in proc.stdout.splitlines() if line.startswith("FAIL")]
    assert failed == [what], proc.stdout
    assert says in proc.stdout, proc.stdout


def test_a_missing_manifest_folder_fails(deploy: Path) -> None:
    shutil.rmtree(deploy / "k8s")
    proc = lint(deploy)
    assert proc.returncode == 1 and "no Kubernetes manifests" in proc.stdout
