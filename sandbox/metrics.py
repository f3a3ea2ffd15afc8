"""The metrics protocol: the bytes of ``$LABLOOP_OUTPUT/metrics.json`` parsed into numbers, or why not.

The experiment wrote these bytes, so they are hostile: the file is read with a size cap
(:data:`METRICS_MAX_BYTES`) and its nesting is measured *before* the JSON parser sees it (a
file nested 100 000 deep would otherwise end in a RecursionError inside the parser). Only a
flat object of at most :data:`METRICS_MAX_KEYS` finite numbers under short printable names
passes; anything else makes the run fail with a message that says what to write instead.
"""

from __future__ import annotations

import json
import math
import re
import unicodedata

METRICS_FILE = "metrics.json"
METRICS_MAX_BYTES = 1024 * 1024
METRICS_MAX_DEPTH = 16
"""Deeper nesting is refused before parsing (a flat object has depth 1; more is an error anyway)."""
METRICS_MAX_KEYS = 1000
METRICS_MAX_NAME_CHARS = 200
WHERE = f"$LABLOOP_OUTPUT/{METRICS_FILE}"

# JSON strings hold brackets that do not nest; they are cut out before brackets are counted.
_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"', re.DOTALL)
_NOT_BRACKETS = bytes(set(range(256)) - set(b"[]{}"))


class _NotFinite(ValueError):
    pass


def nesting_depth(raw: bytes, *, limit: int) -> int:
    """How deeply ``raw`` (JSON text) nests arrays and objects, counted up to ``limit + 1``."""
    brackets = _STRING.sub(b"", raw).translate(None, _NOT_BRACKETS)
    depth = deepest = 0
    for char in brackets:
        depth += 1 if char in b"[{" else -1
        if depth > deepest:
            deepest = depth
            if deepest > limit:
                break
    return deepest


def _refuse_constant(name: str) -> float:
    # json.loads accepts NaN, Infinity and -Infinity, which are not JSON numbers.
    raise _NotFinite(f"{name} is not a finite number")


def parse_metrics(raw_bytes: bytes | None, metric: str | None) -> tuple[dict[str, float], str | None]:
    """Metrics from the bytes of metrics.json (None: no such regular file), or why not."""
    if raw_bytes is None:
        return {}, f"no {METRICS_FILE}: the experiment must write a flat JSON object of numbers to {WHERE}"
    if len(raw_bytes) > METRICS_MAX_BYTES:
        return {}, f"{WHERE} is larger than {METRICS_MAX_BYTES} bytes; write only the numbers"
    if nesting_depth(raw_bytes, limit=METRICS_MAX_DEPTH) > METRICS_MAX_DEPTH:
        return {}, (f"{WHERE} is nested more than {METRICS_MAX_DEPTH} levels deep; "
                    "write a flat JSON object of numbers")
    try:
        # Integers become floats at once: a 400-digit integer is then inf (refused below)
        # rather than an OverflowError when it is converted later.
        raw = json.loads(raw_bytes, parse_int=float, parse_constant=_refuse_constant)
    except _NotFinite as exc:
        return {}, f"{WHERE}: {exc}; write finite numbers only (leave a key out when it has no value)"
    except (ValueError, RecursionError) as exc:
        return {}, f"{WHERE} is not valid JSON: {str(exc)[:200]}"
    if not isinstance(raw, dict):
        return {}, f"{WHERE} must be a JSON object of numbers, got {type(raw).__name__}"
    if len(raw) > METRICS_MAX_KEYS:
        return {}, f"{WHERE} has {len(raw)} keys, more than {METRICS_MAX_KEYS}; report only the metrics"
    metrics: dict[str, float] = {}
    for key, value in raw.items():
        if problem := _name_problem(key):
            return {}, f"{WHERE}: the key {ascii(key[:80])} {problem}"
        if isinstance(value, bool) or not isinstance(value, int | float):
            return {}, f"{WHERE}: {key!r} is {value!r:.80}, not a number (the object must be flat)"
        if not math.isfinite(value):
            what = f"the metric {key!r}" if key == metric else repr(key)
            return {}, f"{WHERE}: {what} is {value}, not a finite number; write finite numbers only"
        metrics[key] = float(value)
    if metric is not None and metric not in metrics:
        have = ", ".join(sorted(metrics)[:50]) or "nothing"
        return metrics, f"{WHERE} has no '{metric}' (the task's metric); it has: {have}"
    return metrics, None


def _name_problem(key: str) -> str | None:
    if len(key) > METRICS_MAX_NAME_CHARS:
        return f"is longer than {METRICS_MAX_NAME_CHARS} characters"
    if not key:
        return "is empty"
    if any(unicodedata.category(ch) in ("Cc", "Cs") for ch in key):
        return "contains control characters"
    return None
