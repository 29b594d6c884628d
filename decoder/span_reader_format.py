"""What a reader folder is: its metadata file and format, and the window geometry every runtime reads with.

Shared by the reader (decoder/span_reader.py), its trainer (span_reader_train.py) and its int8 graph
(span_reader_onnx.py), so a folder written by one is read the same way by the others.
"""

READER_META = "vtrag-reader.json"
READER_FORMAT = "vtrag-reader/1"
ONNX_GRAPH = "reader.int8.onnx"  # present in a folder whose metadata says runtime "onnx-int8"
MAX_LENGTH = 384  # tokens per window: question + page slice + 3 special tokens
STRIDE = 128  # tokens shared by neighbouring windows of a long page
MAX_QUESTION_TOKENS = 64
MAX_ANSWER_TOKENS = 30
MODEL_INPUTS = ("input_ids", "attention_mask", "token_type_ids")  # what a BERT forward takes
