"""Chroma ``where`` clauses: built from flat mappings, and evaluated in Python.

:meth:`ChromaMemory.nearest` filters an unfiltered probe's hits itself (much faster than
Chroma's filtered search on a large collection), so it must judge a clause exactly as
Chroma would: equality (bools are not ints), ``$eq $ne $gt $gte $lt $lte $in $nin``,
``$and``, ``$or``. Anything else is left to Chroma.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any


def where_clause(filters: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """A Chroma ``where`` from a flat mapping: ``{"task": "t", "verified": True}`` → ``$and``.

    Keys starting with ``$`` (``$and``, ``$or``) and operator values (``{"$gte": 0.9}``)
    pass through unchanged; None values are ignored.
    """
    if not filters:
        return None
    parts = [{key: value} for key, value in filters.items() if value is not None]
    if not parts:
        return None
    return parts[0] if len(parts) == 1 else {"$and": parts}


_COMPARE = {
    "$eq": lambda a, b: a == b, "$ne": lambda a, b: a != b,
    "$gt": lambda a, b: a is not None and a > b, "$gte": lambda a, b: a is not None and a >= b,
    "$lt": lambda a, b: a is not None and a < b, "$lte": lambda a, b: a is not None and a <= b,
    "$in": lambda a, b: a in b, "$nin": lambda a, b: a not in b,
}


def evaluable(clause: Mapping[str, Any]) -> bool:
    """True when :func:`matches` understands every operator in ``clause``."""
    for key, value in clause.items():
        if key in ("$and", "$or"):
            if not all(evaluable(part) for part in value):
                return False
        elif key.startswith("$") or (isinstance(value, Mapping) and not set(value) <= set(_COMPARE)):
            return False
    return True


def matches(metadata: Mapping[str, Any], clause: Mapping[str, Any]) -> bool:
    """Evaluate a Chroma ``where`` clause on one record's metadata, as Chroma would."""
    for key, value in clause.items():
        if key == "$and":
            ok = all(matches(metadata, part) for part in value)
        elif key == "$or":
            ok = any(matches(metadata, part) for part in value)
        elif isinstance(value, Mapping):
            ok = all(_COMPARE[op](metadata.get(key), arg) for op, arg in value.items())
        else:
            ok = metadata.get(key) == value and (type(metadata.get(key)) is bool) == (type(value) is bool)
        if not ok:
            return False
    return True


def clean_metadata(metadata: Mapping[str, Any]) -> dict[str, str | int | float | bool]:
    """Chroma takes scalar metadata only: drop None, JSON-encode lists and mappings."""
    out: dict[str, str | int | float | bool] = {}
    for key, value in metadata.items():
        if value is None:
            continue
        if isinstance(value, str | int | float | bool):
            out[key] = value
        else:
            out[key] = json.dumps(value, sort_keys=True, default=str)
    return out
