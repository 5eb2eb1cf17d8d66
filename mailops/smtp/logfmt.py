"""Structured log lines for the daemon: `key=value` text or one JSON object per line."""

from __future__ import annotations

import json
import logging
import sys
import time
from typing import Any

EVENT_LOG = logging.getLogger("mailops.serve")
_format = "text"


def event(name: str, **fields: Any) -> None:
    """Log one structured event (a session ended, a message stored, ...)."""
    EVENT_LOG.info(name, extra={"fields": fields})


def error_event(name: str, **fields: Any) -> None:
    """Log one structured event at error level (a worker process died, ...)."""
    EVENT_LOG.error(name, extra={"fields": fields})


def current_format() -> str:
    """The format given to configure() (SMTP worker processes log the same way)."""
    return _format


def _text_value(value: Any) -> str:
    """A bare word when unambiguous, else a JSON string: values come from clients
    (HELO names, addresses) and must not be able to fake fields or lines."""
    # The daemon writes two lines per message: the common types skip json.dumps
    # (same text: ints as digits, true/false, null).
    kind = type(value)
    if kind is int:
        return str(value)
    if kind is bool:
        return "true" if value else "false"
    if value is None:
        return "null"
    if not isinstance(value, str):
        return json.dumps(value, default=str)
    if (value and value.isascii() and value.isprintable()
            and " " not in value and '"' not in value and "=" not in value):
        return value
    return json.dumps(value)


class TextFormatter(logging.Formatter):
    """`2026-11-28T13:00:00Z message id=3 size=512 from=a@b` lines."""

    _second = -1
    _stamp = ""

    def format(self, record: logging.LogRecord) -> str:
        second = int(record.created)
        if second != self._second:  # one strftime per second, not per line
            self._second = second
            self._stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(second))
        stamp = self._stamp
        fields: dict[str, Any] = getattr(record, "fields", {})
        parts = [stamp, record.levelname.lower(), record.getMessage()]
        for key, value in fields.items():
            parts.append(f"{key}={_text_value(value)}")
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
    global _format
    _format = fmt
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    root = logging.getLogger("mailops")
    root.handlers[:] = [handler]
    root.setLevel(level)
    root.propagate = False
    # aiosmtpd logs every connection at INFO and a deprecation warning per AUTH.
    logging.getLogger("mail.log").setLevel(logging.CRITICAL)
    # No formatter here shows the caller's frame, thread or process: not looking
    # them up saves a stack walk and more on every record (the logging HOWTO's
    # "Optimization" section).
    logging._srcfile = None
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False
