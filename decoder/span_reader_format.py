"""What a reader folder is: its metadata file and format, and the window geometry every runtime reads with.

Shared by the reader (decoder/span_reader.py), its trainer (span_reader_train.py) and its int8 graph
(span_reader_onnx.py), so a folder written by one is read the same way by the others. Also where a release
ships its trained reader (docs/READER.md): answers use it unless `VTRAG_READER_DIR` names another or says
`rules`.
"""

import json
from pathlib import Path

READER_META = "vtrag-reader.json"
READER_FORMAT = "vtrag-reader/1"
ONNX_GRAPH = "reader.int8.onnx"  # present in a folder whose metadata says runtime "onnx-int8"
MAX_LENGTH = 384  # tokens per window: question + page slice + 3 special tokens
STRIDE = 128  # tokens shared by neighbouring windows of a long page
MAX_QUESTION_TOKENS = 64
MAX_ANSWER_TOKENS = 30
MODEL_INPUTS = ("input_ids", "attention_mask", "token_type_ids")  # what a BERT forward takes

# The trained int8 reader a release ships inside the package (docs/READER.md says how it is built); absent
# from an install or a checkout that predates it, and then the rule-based reader answers.
SHIPPED_READER = Path(__file__).resolve().parent / "readers" / "squad-minilm-int8"


def shipped_reader_dir() -> Path | None:
    """The shipped trained reader folder, or None when this install has none."""
    return SHIPPED_READER if (SHIPPED_READER / READER_META).is_file() else None


def folder_runtime(folder: Path) -> str:
    """What reads the reader folder: "onnx-int8" (CPU, no torch) or "torch" (the default of a trained
    folder); "torch" too when the metadata cannot be read (the reader itself then says what is wrong)."""
    try:
        return str(json.loads((Path(folder) / READER_META).read_text()).get("runtime", "torch"))
    except (OSError, ValueError, AttributeError):
        return "torch"
