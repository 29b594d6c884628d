"""Per-request limits from the settings (the schemas carry only hard ceilings)."""

from __future__ import annotations

from api.rest.errors import ApiError
from api.settings import Settings


def check_text(settings: Settings, field: str, value: str) -> None:
    if len(value) > settings.max_question_chars:
        raise ApiError(
            422,
            f"{field} is longer than {settings.max_question_chars} characters",
            type="limit_exceeded",
            detail={"field": field, "limit": settings.max_question_chars, "length": len(value)},
        )


def check_top_k(settings: Settings, top_k: int) -> None:
    if top_k > settings.max_top_k:
        raise ApiError(
            422,
            f"top_k is over this server's limit of {settings.max_top_k}",
            type="limit_exceeded",
            detail={"field": "top_k", "limit": settings.max_top_k, "value": top_k},
        )
