"""Conversations: `mailops thread ID` (the reply tree) and `ls --threads` (one row each)."""

from __future__ import annotations

import re
import sys
import time
from typing import Any

import typer

from .context import open_store
from .output import Format, print_json, print_plain_table, render

THREAD_COLUMNS = ["id", "date", "msgs", "unread", "participants", "subject"]
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def _safe(text: str) -> str:
    """One line without control characters (terminal escapes in headers)."""
    return " ".join(_CONTROL.sub(" ", text).split())


def _when(date: str | None, ts: float) -> str:
    if date:
        return date[:16].replace("T", " ")
    return time.strftime("%Y-%m-%d %H:%M", time.gmtime(ts))


def thread_cmd(
    ctx: typer.Context,
    msg_id: int = typer.Argument(..., metavar="ID",
                                 help="Any message of the thread (an id from `mailops ls`)."),
    as_json: bool = typer.Option(False, "--json", help="The nested reply tree as JSON."),
) -> None:
    """Show the conversation containing message ID as a reply tree.

    Each line is a message: id, date, sender, subject, indented under the
    message it replies to. Replies to messages that are not stored hang under a
    "(missing)" line. See docs/threads.md.

    \b
    Examples:
      mailops thread 12
      mailops thread 12 --json
      mailops ls --threads
    """
    from mailops.threads import conversation, display_name, walk

    with open_store(ctx, readonly=True) as store:
        conv = conversation(store, msg_id)
    if as_json:
        print_json(conv.as_dict())
        return
    lines = []
    for prefix, node in walk(conv.roots):
        m = node.message
        if m is None:
            lines.append(f"{prefix}(missing) <{_safe(node.message_id or '')}>")
            continue
        mark = "  <-" if m.id == msg_id else ""
        sender = _safe(display_name(m.sender)) or "(no sender)"
        lines.append(f"{prefix}{m.id}  {_when(m.date, m.when)}  {sender}"
                     f"  {_safe(m.subject) or '(no subject)'}{mark}")
    sys.stdout.write("\n".join(lines) + "\n")


def list_threads(ctx: typer.Context, query: str | None, limit: int, fmt: Format, *,
                 paged: bool = False) -> None:
    """`ls --threads`: one row per conversation, newest first.

    `paged`: message sorting or paging options were given, which do not apply.
    """
    from mailops.errors import UsageError
    from mailops.threads import conversations, display_name

    if paged:
        raise UsageError("--threads lists conversations newest first; --sort, --after and "
                         "--before-id apply to messages only")

    with open_store(ctx, readonly=True) as store:
        rows = conversations(store, query, limit=limit)
    if fmt is not Format.table:
        render(rows, fmt, ["thread_id", "id", "date", "messages", "unread", "participants",
                           "subject"])
        return
    if not rows:
        sys.stderr.write("no threads" + (f" match {query!r}" if query else "") + "\n")
        return
    shown: list[dict[str, Any]] = [{
        "id": r["id"], "date": _when(r["date"], r["newest"]), "msgs": r["messages"],
        "unread": r["unread"] or "", "subject": r["subject"],
        "participants": ", ".join(display_name(p) for p in r["participants"]),
    } for r in rows]
    print_plain_table(shown, THREAD_COLUMNS, right=frozenset({"id", "msgs", "unread"}),
                      shrink=(("participants", 30), ("subject", 40), ("participants", 16),
                              ("subject", 12)))


def register(app: typer.Typer) -> None:
    """Add `thread` to the root app."""
    app.command("thread")(thread_cmd)
