"""Replies and forwards of a stored message, as `compose.Draft`s to edit and send.

- Subject: "Re: " / "Fwd: " once, however many the original already carries
  (also "RE:", "Fw:", "Re[2]:").
- Threading (RFC 5322 section 3.6.4): In-Reply-To is the parent's Message-ID;
  References is the parent's References (or, without one, its single
  In-Reply-To) followed by the parent's Message-ID.
- Recipients: Reply-To when the message has one, else From; reply-all adds the
  original To and Cc as Cc, without the user's own address (config send.from)
  and without duplicates (addresses compare case-insensitively).
- Body: "On DATE, NAME wrote:" and the message's text (HTML reduced, as the
  reader shows it) with "> " before each line.
- Forward is inline: a "Forwarded message" header block and the text, with the
  original's attachments attached again (written to a directory the caller
  gives, since a Draft attaches files).
"""

from __future__ import annotations

import email.utils
import re
from collections.abc import Iterable
from datetime import datetime
from email.message import Message
from pathlib import Path

from mailops.compose import Draft
from mailops.mime import message_ids, parse_message
from mailops.store import MessageRow
from mailops.view import readable, save_attachments

_RE = re.compile(r"^\s*(?:(?:re|aw|sv)(?:\[\d+\])?\s*:\s*)+", re.IGNORECASE)
_FWD = re.compile(r"^\s*(?:(?:fwd?|wg)\s*:\s*)+", re.IGNORECASE)


def reply_subject(subject: str) -> str:
    """"Re: " plus the subject without its own reply prefixes."""
    return "Re: " + _RE.sub("", subject or "").strip()


def forward_subject(subject: str) -> str:
    """"Fwd: " plus the subject without its own forward prefixes."""
    return "Fwd: " + _FWD.sub("", subject or "").strip()


def _header(msg: Message, name: str) -> str:
    try:
        value = msg.get(name)
    except Exception:  # a malformed header the modern parser cannot make an object of
        return ""
    return " ".join(str(value).split()) if value is not None else ""


def _pairs(values: Iterable[str]) -> list[tuple[str, str]]:
    """(name, address) pairs; group syntax and empty entries dropped."""
    return [(n, a) for n, a in email.utils.getaddresses([v for v in values if v]) if a]


def _unique(pairs: Iterable[tuple[str, str]], skip: set[str]) -> list[str]:
    out: list[str] = []
    for name, addr in pairs:
        if addr.lower() not in skip:
            skip.add(addr.lower())
            out.append(email.utils.formataddr((name, addr)) if name else addr)
    return out


def threading_headers(msg: Message) -> list[str]:
    """In-Reply-To and References for a reply to `msg` (none without a Message-ID)."""
    parent = message_ids(_header(msg, "Message-ID"))
    if not parent:
        return []
    refs = message_ids(_header(msg, "References"))
    if not refs:
        replied = message_ids(_header(msg, "In-Reply-To"))
        refs = replied if len(replied) == 1 else []
    chain = [r for r in refs if r != parent[0]] + [parent[0]]
    return [f"In-Reply-To: <{parent[0]}>",
            "References: " + " ".join(f"<{r}>" for r in chain)]


def _when(msg: Message) -> str:
    value = _header(msg, "Date")
    try:
        date: datetime = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return value or "an unknown date"
    return date.strftime("%a, %d %b %Y at %H:%M %z").strip()


def quote(text: str) -> str:
    """Each line with "> " before it (">" before an already quoted or empty line)."""
    lines = text.rstrip("\n").split("\n") if text.strip() else []
    return "".join((">" if not line or line.startswith(">") else "> ") + line + "\n"
                   for line in lines)


def reply(row: MessageRow, raw: bytes, sender: str, *, to_all: bool = False) -> Draft:
    """A reply (or, with `to_all`, a reply to everyone) to a stored message."""
    msg = parse_message(raw)
    me = {a.lower() for _, a in _pairs([sender])}
    authors = _pairs([_header(msg, "Reply-To")]) or _pairs([_header(msg, "From")])
    if authors and all(a.lower() in me for _, a in authors):
        # A reply to one's own message goes to its recipients again.
        authors = _pairs([_header(msg, "To")]) or authors
    seen = set(me)
    to = _unique(authors, seen) or _unique(authors, set())
    cc: list[str] = []
    if to_all:
        cc = _unique(_pairs([_header(msg, "To"), _header(msg, "Cc")]), seen)
    view = readable(row, raw)
    froms = _pairs([_header(msg, "From")])
    name = (froms[0][0] or froms[0][1]) if froms else "someone"
    body = f"\n\nOn {_when(msg)}, {name} wrote:\n{quote(view['text'])}"
    return Draft(sender=sender, to=to, cc=cc, subject=reply_subject(_header(msg, "Subject")),
                 body=body, headers=threading_headers(msg))


def forward(row: MessageRow, raw: bytes, sender: str,
            attachments_dir: Path | None = None) -> Draft:
    """An inline forward: the original's headers and text, its attachments saved
    into `attachments_dir` and attached (none when it is None)."""
    msg = parse_message(raw)
    view = readable(row, raw)
    block = ["---------- Forwarded message ----------"]
    for label in ("From", "Date", "Subject", "To", "Cc"):
        value = _header(msg, label)
        if value:
            block.append(f"{label}: {value}")
    body = "\n\n" + "\n".join(block) + "\n\n" + view["text"].rstrip("\n") + "\n"
    attachments = save_attachments(raw, attachments_dir) if attachments_dir else []
    return Draft(sender=sender, subject=forward_subject(_header(msg, "Subject")), body=body,
                 attachments=attachments)
