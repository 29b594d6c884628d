"""How many token-writer processes a build gets: the setting, else 4 for a vision build on a GPU, else 0."""

from __future__ import annotations

from pathlib import Path

import pytest

from api.service import runtime
from api.service.facade import GPU_WRITE_PROCESSES, Service
from api.settings import Settings


@pytest.mark.parametrize(
    ("setting", "vision", "device", "expected"),
    [
        (None, True, "cuda", GPU_WRITE_PROCESSES),
        (None, True, "cpu", 0),  # the encoder, not the host, bounds a CPU build
        (None, False, "cuda", 0),  # the lite profile writes no tokens
        (2, True, "cpu", 2),
        (0, True, "cuda", 0),
    ],
)
def test_token_writer_processes_of_a_build(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, setting: int | None, vision: bool, device: str,
    expected: int,
) -> None:  # fmt: skip
    monkeypatch.setattr(runtime, "resolve_device", lambda asked: device)
    service = Service(Settings(data_dir=tmp_path, write_processes=setting))
    assert service._write_processes(vision) == expected  # noqa: SLF001


def test_the_setting_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VTRAG_WRITE_PROCESSES", "3")
    assert Settings().write_processes == 3
    monkeypatch.setenv("VTRAG_WRITE_PROCESSES", "-1")
    with pytest.raises(ValueError, match="write_processes"):
        Settings()
