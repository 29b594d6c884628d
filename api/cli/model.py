"""`vtrag model check`: prove the vision path on this machine without downloading anything."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from api.cli.common import JsonOut

model_app = typer.Typer(help="Inspect and check the vision models.", no_args_is_help=True)


@model_app.command("check")
def model_check(
    tiny: Annotated[
        bool, typer.Option("--tiny", help="Tiny random v1 and OCR-2 models from the real configs.")
    ] = False,
    weights: Annotated[
        Path | None, typer.Option("--weights", help="Also load DeepSeek-OCR from here.")
    ] = None,
    ocr2_weights: Annotated[
        Path | None, typer.Option("--ocr2-weights", help="Also load DeepSeek-OCR-2 from this folder.")
    ] = None,
    device: Annotated[str, typer.Option("--device", help="cpu | cuda.")] = "cpu",
    as_json: JsonOut = False,
) -> None:
    """Write a synthetic checkpoint in the official key layout, load it back and verify rows and logits."""
    from encoder.selfcheck import run_selfcheck

    if not tiny and weights is None and ocr2_weights is None:
        typer.echo("error: give --tiny and/or --weights DIR / --ocr2-weights DIR", err=True)
        raise typer.Exit(2)
    report = run_selfcheck(tiny=tiny, weights_dir=weights, ocr2_weights_dir=ocr2_weights, device=device)
    if as_json:
        typer.echo(json.dumps(report))
    else:
        for check in report["checks"]:
            mark = "ok  " if check["ok"] else "FAIL"
            typer.echo(f"{mark} {check['name']:<28} {check['detail']}")
        typer.echo("all checks passed" if report["ok"] else "some checks failed")
    if not report["ok"]:
        raise typer.Exit(1)
