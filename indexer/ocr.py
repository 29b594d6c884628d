"""Page OCR with RapidOCR and the ONNX models bundled in its wheel (PP-OCRv6 det/rec, no network).

`Ocr` is cheap to build and pickle: the ONNX sessions are created on the first `read()` in the process that
uses it, so a job can hand one to worker processes. Lines come back in reading order: boxes are grouped
into visual lines (top to bottom), and the pieces of a visual line are ordered left to right, joining pieces
that sit closer than a gap of about one line height (the detector splits lines at wide gaps; columns and
table cells stay apart). Multi-column pages therefore read row by row across columns.
"""

from __future__ import annotations

import logging
import os
import threading
from pathlib import Path
from statistics import median
from typing import Any, NamedTuple

import numpy as np
from PIL import Image

_DET_MODEL = "PP-OCRv6_det_small.onnx"
_REC_MODEL = "PP-OCRv6_rec_small.onnx"
_CLS_MODEL = "ch_ppocr_mobile_v2.0_cls_mobile.onnx"
SAME_LINE = 0.5  # two boxes share a visual line when their centres are within this x the smaller height
JOIN_GAP = 0.8  # pieces of a visual line closer than this x the line height are one line


class OcrError(RuntimeError):
    """The OCR engine cannot be built or failed on an image."""


class OcrLine(NamedTuple):
    """One line of recognised text; bbox = (x0, y0, x1, y1) in pixels of the image read.

    A named tuple, so `text, bbox, score = line` works too.
    """

    text: str
    bbox: tuple[float, float, float, float]
    score: float


def bundled_model_dir() -> Path:
    """Where the rapidocr wheel keeps its ONNX models.

    Raises:
        OcrError: rapidocr is not installed (callers fall back as for any OCR failure, never a crash).
    """
    try:
        import rapidocr
    except ImportError as exc:
        raise OcrError(f"RapidOCR is not installed ({exc}); reinstall vtrag's dependencies") from exc
    return Path(rapidocr.__file__).resolve().parent / "models"


class Ocr:
    """RapidOCR with the bundled models, built lazily once per process.

    Args:
        threads: ONNX Runtime intra-op threads. None: OMP_NUM_THREADS of the process that builds the
            engine if set (ONNX Runtime ignores it by itself), else ONNX Runtime's default (all cores).
            One per worker process is best when several processes OCR in parallel.
        use_cls: run the 180-degree text-direction classifier (off: pages are upright; it costs ~10%).
        min_score: drop recognised text below this confidence.
        model_dir: folder holding the three ONNX files (default: the ones bundled with rapidocr).
    """

    def __init__(
        self,
        *,
        threads: int | None = None,
        use_cls: bool = False,
        min_score: float = 0.5,
        model_dir: Path | None = None,
    ) -> None:
        if threads is not None and threads < 1:
            raise ValueError(f"threads must be >= 1 or None, got {threads}")
        if not 0.0 <= min_score <= 1.0:
            raise ValueError(f"min_score must be in [0, 1], got {min_score}")
        self.threads = threads
        self.use_cls = use_cls
        self.min_score = min_score
        self.model_dir = Path(model_dir) if model_dir is not None else None
        self._engine: Any = None
        self._lock = threading.Lock()

    # The ONNX sessions and the lock stay in the process that made them.
    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_engine"] = None
        del state["_lock"]
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._lock = threading.Lock()

    def _build(self) -> Any:
        model_dir = self.model_dir or bundled_model_dir()
        paths = {"Det": model_dir / _DET_MODEL, "Rec": model_dir / _REC_MODEL}
        if self.use_cls:
            paths["Cls"] = model_dir / _CLS_MODEL
        missing = [str(p) for p in paths.values() if not p.is_file()]
        if missing:
            raise OcrError(
                f"OCR models not found: {', '.join(missing)}; reinstall rapidocr (its wheel bundles them)"
            )
        # RapidOCR logs every model load at INFO through its own handler.
        logging.getLogger("RapidOCR").setLevel(logging.ERROR)
        from rapidocr import RapidOCR

        # Explicit model paths: RapidOCR downloads only when a path is left unset.
        params: dict[str, Any] = {f"{k}.model_path": str(p) for k, p in paths.items()}
        params.update({"Global.log_level": "error", "Global.use_cls": self.use_cls})
        threads = self.threads or _env_threads()
        if threads is not None:
            params["EngineConfig.onnxruntime.intra_op_num_threads"] = threads
            params["EngineConfig.onnxruntime.inter_op_num_threads"] = 1
        try:
            return RapidOCR(params=params)
        except Exception as e:
            raise OcrError(f"cannot start RapidOCR: {e}") from e

    def _get_engine(self) -> Any:
        if self._engine is None:
            with self._lock:
                if self._engine is None:
                    self._engine = self._build()
        return self._engine

    def read(self, image: Image.Image) -> list[OcrLine]:
        """Recognise the text of an image.

        Args:
            image: a page image (any mode; converted to RGB).
        Returns:
            lines in reading order with boxes in the image's pixels; [] when no text is found.
        """
        engine = self._get_engine()
        rgb = image if image.mode == "RGB" else image.convert("RGB")
        bgr = np.ascontiguousarray(np.asarray(rgb)[:, :, ::-1])  # RapidOCR takes arrays as OpenCV BGR
        try:
            result = engine(bgr)
        except Exception as e:
            raise OcrError(f"OCR failed: {e}") from e
        boxes, txts, scores = getattr(result, "boxes", None), getattr(result, "txts", None), None
        if boxes is None or txts is None:
            return []
        scores = getattr(result, "scores", None) or [1.0] * len(txts)
        width, height = rgb.size
        pieces = []
        for quad, text, score in zip(boxes, txts, scores, strict=False):
            text = " ".join(str(text).split())
            if not text or float(score) < self.min_score:
                continue
            q = np.asarray(quad, dtype=np.float64).reshape(-1, 2)
            x0, y0 = max(0.0, float(q[:, 0].min())), max(0.0, float(q[:, 1].min()))
            x1, y1 = min(float(width), float(q[:, 0].max())), min(float(height), float(q[:, 1].max()))
            if x1 > x0 and y1 > y0:
                pieces.append(OcrLine(text, (x0, y0, x1, y1), float(score)))
        return reading_order(pieces)


def _env_threads() -> int | None:
    try:
        n = int(os.environ.get("OMP_NUM_THREADS", ""))
    except ValueError:
        return None
    return n if n >= 1 else None


def reading_order(pieces: list[OcrLine]) -> list[OcrLine]:
    """Group text boxes into visual lines, top to bottom, each read left to right; join close neighbours.

    Args:
        pieces: recognised boxes in any order.
    Returns:
        lines in reading order; neighbours on one visual line closer than JOIN_GAP line heights are joined
        into one OcrLine (text joined with a space, boxes united, score averaged by text length).
    """
    rows: list[list[OcrLine]] = []
    row_cy = row_h = 0.0
    for piece in sorted(pieces, key=lambda p: (p.bbox[1] + p.bbox[3]) / 2):
        cy, h = (piece.bbox[1] + piece.bbox[3]) / 2, piece.bbox[3] - piece.bbox[1]
        if rows and abs(cy - row_cy) <= SAME_LINE * min(h, row_h):
            rows[-1].append(piece)
            row = rows[-1]
            row_cy = sum((p.bbox[1] + p.bbox[3]) / 2 for p in row) / len(row)
            row_h = median(p.bbox[3] - p.bbox[1] for p in row)
        else:
            rows.append([piece])
            row_cy, row_h = cy, h
    lines: list[OcrLine] = []
    for row in rows:
        row.sort(key=lambda p: p.bbox[0])
        line_h = median(p.bbox[3] - p.bbox[1] for p in row)
        group = [row[0]]
        for piece in row[1:]:
            if piece.bbox[0] - group[-1].bbox[2] <= JOIN_GAP * line_h:
                group.append(piece)
            else:
                lines.append(_join(group))
                group = [piece]
        lines.append(_join(group))
    return lines


def _join(group: list[OcrLine]) -> OcrLine:
    if len(group) == 1:
        return group[0]
    text = " ".join(p.text for p in group)
    bbox = (
        min(p.bbox[0] for p in group),
        min(p.bbox[1] for p in group),
        max(p.bbox[2] for p in group),
        max(p.bbox[3] for p in group),
    )
    weight = sum(len(p.text) for p in group)
    score = sum(p.score * len(p.text) for p in group) / weight
    return OcrLine(text, bbox, score)
