"""`vtrag model check --tiny --json` backend."""

import json

from encoder.selfcheck import run_selfcheck


def test_tiny_selfcheck_passes_and_is_json():
    report = run_selfcheck(tiny=True)
    assert report["ok"], json.dumps(report, indent=2)
    names = [c["name"] for c in report["checks"]]
    assert names == [
        "v1.released_layout",
        "v1.modes",
        "v1.checkpoint_roundtrip",
        "v1.tampered_checkpoint",
        "ocr2.native_roundtrip",
    ]
    json.dumps(report)


def test_selfcheck_without_weights_reports_where_to_get_them():
    report = run_selfcheck(tiny=False)
    assert not report["ok"]
    failed = [c for c in report["checks"] if not c["ok"]]
    assert [c["name"] for c in failed] == ["v1.weights"] and "VTRAG_WEIGHTS_DIR" in failed[0]["detail"]
