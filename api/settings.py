"""The one settings object: VTRAG_* environment variables, overridden by CLI flags, passed down explicitly."""

from __future__ import annotations

import os
import re
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from encoder.modes import MODES

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
        "base", description="Resolution mode pages are indexed in: tiny|small|base|large|gundam."
    )
    workers: int = Field(default_factory=lambda: min(4, os.cpu_count() or 1), ge=1, le=64)
    batch_pages: int = Field(32, ge=1, le=1024, description="Pages embedded and written per batch.")
    ocr: bool = Field(
        True, description="OCR pages that have no usable text layer (RapidOCR, bundled models)."
    )
    encoder: EncoderName = Field("none", description="Vision encoder; 'none' is the lite profile.")
    weights_dir: Path | None = Field(None, description="Local directory holding the model's weights.")
    device: Literal["auto", "cpu", "cuda"] = "auto"
    top_k: int = Field(5, ge=1, le=100, description="Pages retrieved for an answer by default.")

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
        if value.lower() not in MODES:
            raise ValueError(f"unknown mode {value!r}; choose one of {', '.join(MODES)}")
        return value.lower()

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


@lru_cache
def get_settings() -> Settings:
    return Settings()
