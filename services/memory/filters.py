"""What labloop hands Chroma: ``where`` clauses from flat mappings, scalar-only metadata."""

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
