"""Load small models without transformers' chatter: no progress bars, no load report."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def quiet_loading() -> Iterator[None]:
    """Hide "Loading weights" / "Writing model shards" bars and the load report (restored afterwards).

    Why: for a 90 MB model the bars are noise on every CLI call, and the report of a fresh task head lists it
    as "missing" although a new head is the point of fine-tuning.
    """
    from transformers.utils import logging as hf_logging

    bars, level = hf_logging.is_progress_bar_enabled(), hf_logging.get_verbosity()
    hf_logging.disable_progress_bar()
    hf_logging.set_verbosity_error()
    try:
        yield
    finally:
        hf_logging.set_verbosity(level)
        if bars:
            hf_logging.enable_progress_bar()
