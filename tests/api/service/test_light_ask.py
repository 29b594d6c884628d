"""A lite-profile answer imports neither torch nor transformers: a one-off `vtrag ask` does not pay seconds
of imports (the int8 MiniLM runs on ONNX Runtime with the tokenizers library, the store reads no tensors)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.conftest import run_cli

ROOT = Path(__file__).resolve().parents[3]


def ask_in_process(question: str, data: Path, env: dict[str, str] | None = None) -> str:
    """`vtrag ask QUESTION --data-dir DATA` in a fresh interpreter; its stdout ends with a line saying
    whether torch and transformers were loaded ("loaded: False False" when neither)."""
    code = (
        "import sys\n"
        "from api.cli import main\n"
        "sys.argv = ['vtrag', 'ask', sys.argv[1], '--data-dir', sys.argv[2]]\n"
        "try:\n"
        "    main()\n"
        "except SystemExit:\n"
        "    pass\n"
        "print('loaded:', 'torch' in sys.modules, 'transformers' in sys.modules)\n"
    )
    base = {"HF_HUB_OFFLINE": "1", "PATH": "/usr/bin:/bin", "HOME": str(Path.home())}
    proc = subprocess.run(
        [sys.executable, "-c", code, question, str(data)], capture_output=True, text=True, cwd=ROOT,
        check=True, env={**base, **(env or {})},
    )  # fmt: skip
    return proc.stdout + proc.stderr


def test_a_lite_answer_loads_no_torch_and_no_transformers(corpus: Path, tmp_path: Path) -> None:
    data = tmp_path / "index"
    run_cli("index", "build", str(corpus), "--data-dir", str(data), "--json", check=True)
    out = ask_in_process("When was the Harbour Lighthouse built?", data)
    assert "answer: 1871" in out and "loaded: False False" in out, out
