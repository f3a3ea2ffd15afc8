"""Structured logs for the server: one JSON object a line, with job and experiment ids when known."""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime

_CONTEXT = ("job_id", "experiment_id", "checkpoint_id", "schedule_id")


class JsonFormatter(logging.Formatter):
    """Formats a record as ``{"at", "level", "logger", "message", job_id?, experiment_id?, ...}``."""

    def format(self, record: logging.LogRecord) -> str:
        """One JSON line."""
        line = {
            "at": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key in _CONTEXT:
            value = getattr(record, key, None)
            if value is not None:
                line[key] = value
        if record.exc_info:
            line["error"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str)


def configure_logging(level: str) -> None:
    """Send every log record to stderr as JSON (called by ``labloop serve``, never on import)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True
