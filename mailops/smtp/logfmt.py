"""Structured log lines for the daemon: `key=value` text or one JSON object per line."""

from __future__ import annotations

import json
import logging
import sys
import time
from typing import Any

EVENT_LOG = logging.getLogger("mailops.serve")


def event(name: str, **fields: Any) -> None:
    """Log one structured event (a session ended, a message stored, ...)."""
    EVENT_LOG.info(name, extra={"fields": fields})


class TextFormatter(logging.Formatter):
    """`2026-11-28T13:00:00Z message id=3 size=512 from=a@b` lines."""

    def format(self, record: logging.LogRecord) -> str:
        stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(record.created))
        fields: dict[str, Any] = getattr(record, "fields", {})
        parts = [stamp, record.levelname.lower(), record.getMessage()]
        for key, value in fields.items():
            text = value if isinstance(value, str) else json.dumps(value)
            if isinstance(value, str) and (not value or any(c in value for c in ' "=')):
                text = json.dumps(value)
            parts.append(f"{key}={text}")
        line = " ".join(parts)
        if record.exc_info:
            line += " error=" + json.dumps(self.formatException(record.exc_info).splitlines()[-1])
        return line


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ts, level, event, then the event's fields."""

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {"ts": round(record.created, 3), "level": record.levelname.lower(),
                               "event": record.getMessage()}
        out.update(getattr(record, "fields", {}))
        if record.exc_info:
            out["error"] = self.formatException(record.exc_info).splitlines()[-1]
        return json.dumps(out, default=str)


def configure(fmt: str = "text", level: int = logging.INFO) -> None:
    """Send mailops logs to stderr in the given format; silence aiosmtpd's chatter."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    root = logging.getLogger("mailops")
    root.handlers[:] = [handler]
    root.setLevel(level)
    root.propagate = False
    # aiosmtpd logs every connection at INFO and a deprecation warning per AUTH.
    logging.getLogger("mail.log").setLevel(logging.CRITICAL)
