"""A question's path through api/ is the one docs/ARCHITECTURE.md states: each file entered once, in order.

`Service.ask` runs under a profiler on a one-page lite index; every call that enters an api/ file from another
file is recorded. The answer pipeline is the hub its steps return to, so the files entered, in order, are the
path; api/service/metrics.py (the counters) and api/client/schemas.py (the models, and the text rules the
facade checks a question with) are left out as the leaves every step may use.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterator
from pathlib import Path
from types import FrameType
from typing import Any

import pytest

from api.service.facade import Service
from api.settings import Settings
from tests.conftest import make_pdf

ROOT = Path(__file__).resolve().parents[3]
API = ROOT / "api"
LEAVES = {"api/service/metrics.py", "api/client/schemas.py"}
QUESTION = "When was the Harbour Lighthouse built?"


def documented_path() -> list[str]:
    """The api/ files named in the paragraph '**A question's path.**' of docs/ARCHITECTURE.md, in order."""
    text = (ROOT / "docs" / "ARCHITECTURE.md").read_text()
    paragraph = text[text.index("**A question's path.**") :].split("\n\n", 1)[0]
    return list(dict.fromkeys(re.findall(r"`(api/[\w/]+\.py)`", paragraph)))


def entered_files(call: Any) -> list[str]:
    """The api/ files `call()` enters from another file, in order (repeats in a row folded)."""
    entered: list[str] = []

    def profile(frame: FrameType, event: str, arg: object) -> None:
        if event != "call":
            return
        path = frame.f_code.co_filename
        caller = frame.f_back.f_code.co_filename if frame.f_back is not None else ""
        if path == caller or not path.startswith(str(API)):
            return
        name = str(Path(path).relative_to(ROOT))
        if name not in LEAVES and (not entered or entered[-1] != name):
            entered.append(name)

    sys.setprofile(profile)
    try:
        call()
    finally:
        sys.setprofile(None)
    return entered


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    root = tmp_path_factory.mktemp("path")
    pdf = make_pdf(
        root / "lighthouse.pdf",
        ["The Harbour Lighthouse was built in 1871 on the northern breakwater by Thomas Rowe."],
    )
    svc = Service(Settings(data_dir=root / "data", workers=1))
    svc.build([pdf])
    svc.ask(QUESTION)  # models loaded, so the traced calls are the answer's own
    yield svc
    svc.close()


@pytest.mark.parametrize(
    ("full_ocr", "expected"),
    [
        (False, ["facade", "answer", "retrieval", "reader", "read_tracker"]),
        (True, ["facade", "answer", "retrieval", "fallback", "page_sources", "reader", "read_tracker"]),
    ],
)
def test_an_answer_enters_each_file_once_in_the_documented_order(
    service: Service, full_ocr: bool, expected: list[str]
) -> None:
    answers: list[Any] = []
    path = entered_files(lambda: answers.append(service.ask(QUESTION, full_ocr=full_ocr)))
    assert "1871" in answers[0].answer and answers[0].fallback.ran == full_ocr
    assert path == [f"api/service/{name}.py" for name in expected]
    documented = documented_path()
    assert [documented.index(f) for f in path] == sorted(documented.index(f) for f in path)
