"""The mailbox's status line: what is listed, how many, and what is selected."""

from __future__ import annotations

from mailops.store.listing import SORT_LABELS

from .message_list import MessageList
from .widgets import Scope


def status_line(scope: Scope, messages: MessageList, search_text: str, sort: str,
                catching: str = "") -> str:
    """`INBOX: 1,234 messages matching from:alice, by sender; 3 selected`."""
    total = messages.total if messages.source else 0
    known = messages.source is not None and messages.source.total is not None
    shown = f"{total:,}" if known else "counting"
    text = f"{scope.label}: {shown} message{'s' if total != 1 else ''}"
    if search_text.strip():
        text += f" matching {search_text.strip()}"
    if sort != "date":
        text += ", " + SORT_LABELS[sort]
    selection = messages.selection
    if selection:
        text += f"; {selection.size(total):,} selected"
        text += " (all matching)" if selection.everything else ""
    if catching:
        text += f"  · catching mail on {catching}"
    return text
