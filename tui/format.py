"""Cells of the message list and bits of text shared by the screens (no Textual)."""

from __future__ import annotations

import time
from email.utils import parseaddr
from typing import Any

MARK_UNREAD = "●"
MARK_FLAGGED = "⚑"
MARK_ATTACHMENT = "+"


def date_cell(row: dict[str, Any]) -> str:
    """`YYYY-MM-DD HH:MM` in UTC: the Date header, else the arrival time (never the
    clock, so the same store always shows the same text)."""
    date = row.get("date")
    if isinstance(date, str) and len(date) >= 16:
        return date[:16].replace("T", " ")
    return time.strftime("%Y-%m-%d %H:%M", time.gmtime(float(row.get("received_at") or 0)))


def sender_cell(row: dict[str, Any]) -> str:
    """The sender's display name, else the address, else the envelope sender."""
    value = str(row.get("from") or row.get("mail_from") or "")
    name, addr = parseaddr(value)
    return name or addr or value


def size_cell(size: int) -> str:
    """A short human size: 812, 12K, 3.4M."""
    if size < 1000:
        return str(size)
    for unit in ("K", "M", "G"):
        size_f = size / 1024
        if size_f < 10:
            return f"{size_f:.1f}{unit}"
        if size_f < 1000:
            return f"{size_f:.0f}{unit}"
        size = int(size_f)
    return f"{size}T"


def marks_cell(row: dict[str, Any]) -> str:
    """Three one-character marks: unread, flagged, attachment."""
    unread = row.get("thread_unread", 0) if "thread_count" in row else not row.get("read")
    return ((MARK_UNREAD if unread else " ")
            + (MARK_FLAGGED if row.get("flagged") else " ")
            + (MARK_ATTACHMENT if row.get("attachments") else " "))


def subject_cell(row: dict[str, Any]) -> str:
    """The subject, or a placeholder for none or a message not yet indexed."""
    if not row.get("indexed", True):
        return "(not indexed yet)"
    subject = " ".join(str(row.get("subject") or "(no subject)").split())
    # A conversation's row (thread grouping): how many of its messages are listed.
    return f"({row['thread_count']}) {subject}" if row.get("thread_count", 1) > 1 else subject


def quote_value(value: str) -> str:
    """A value as a query phrase (`folder:"My Mail"`): quotes doubled."""
    return '"' + value.replace('"', '""') + '"'
