"""Milvus filter expressions built from structured parameters.

Expressions are written by this package as templates with `{name}` placeholders (the syntax of Milvus'
`filter_params`); values only ever enter through `render`, which encodes each one as a literal of its
type. Milvus Lite 3.2.2 rejects `filter_params` templates ("unexpected character '{'"), so we substitute
the literals client-side for every backend: one code path, and a user string can never break out of its
quotes because quotes and backslashes are escaped.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")
# The escapes both the Milvus grammar and the Milvus Lite lexer understand inside "...".
_ESCAPES = {"\\": "\\\\", '"': '\\"', "\n": "\\n", "\r": "\\r", "\t": "\\t"}


@dataclass(frozen=True)
class Filter:
    """A filter template and the values of its placeholders.

    Attributes:
        expr: expression with `{name}` placeholders, written by our code only (never user text).
        params: the placeholder values: str, int, float, bool, or a list of those.
    """

    expr: str = ""
    params: Mapping[str, Any] = field(default_factory=dict)

    def render(self) -> str:
        """Substitute the params as literals.

        Returns:
            The expression Milvus evaluates ("" matches everything).
        """
        return render(self.expr, self.params)


def literal(value: Any) -> str:
    """Encode one value as a Milvus expression literal.

    Args:
        value: str, int, float, bool, or a list/tuple/set/frozenset of those.

    Returns:
        The literal text, e.g. `"a\\"b"`, `42`, `["x","y"]`.

    Raises:
        ValueError: unsupported type, non-finite float, or nested list.
    """
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"cannot use {value} in a filter")
        return repr(value)
    if isinstance(value, str):
        return '"' + "".join(_ESCAPES.get(ch, ch) for ch in value) + '"'
    if isinstance(value, (list, tuple, set, frozenset)):
        items = sorted(value) if isinstance(value, (set, frozenset)) else list(value)
        if any(isinstance(item, (list, tuple, set, frozenset)) for item in items):
            raise ValueError("nested lists are not valid filter values")
        return "[" + ",".join(literal(item) for item in items) + "]"
    raise ValueError(f"unsupported filter value type {type(value).__name__}")


def render(expr: str, params: Mapping[str, Any]) -> str:
    """Replace each `{name}` in `expr` by `literal(params[name])`.

    Args:
        expr: the template.
        params: placeholder values.

    Returns:
        The rendered expression.

    Raises:
        ValueError: a placeholder has no value.
    """

    def substitute(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in params:
            raise ValueError(f"filter placeholder {{{name}}} has no value")
        return literal(params[name])

    return _PLACEHOLDER.sub(substitute, expr)


def all_of(filters: Iterable[Filter]) -> Filter:
    """AND several filters together, keeping their params apart.

    Args:
        filters: filters to combine; empty ones are skipped.

    Returns:
        One Filter; placeholders are renamed `p{i}_{name}` so equal names cannot collide.
    """
    parts: list[str] = []
    params: dict[str, Any] = {}
    for i, flt in enumerate(filters):
        if not flt.expr:
            continue
        expr = _PLACEHOLDER.sub(lambda m, i=i: f"{{p{i}_{m.group(1)}}}", flt.expr)  # type: ignore[misc]
        params.update({f"p{i}_{k}": v for k, v in flt.params.items()})
        parts.append(f"({expr})")
    return Filter(" and ".join(parts), params)


def field_equals(name: str, value: Any) -> Filter:
    """`name == value`.

    Args:
        name: a field name from schema.py (never user input).
        value: the value to compare with.

    Returns:
        The Filter.
    """
    return Filter(f"{name} == {{value}}", {"value": value})


def field_in(name: str, values: Iterable[Any]) -> Filter:
    """`name in [values]`.

    Args:
        name: a field name from schema.py (never user input).
        values: the allowed values (may be empty: then nothing matches).

    Returns:
        The Filter.
    """
    return Filter(f"{name} in {{values}}", {"values": list(values)})


def field_not_in(name: str, values: Iterable[Any]) -> Filter:
    """`name not in [values]`; an empty list yields the match-all filter.

    Args:
        name: a field name from schema.py (never user input).
        values: the excluded values.

    Returns:
        The Filter.
    """
    values = list(values)
    if not values:
        return Filter()
    return Filter(f"{name} not in {{values}}", {"values": values})
