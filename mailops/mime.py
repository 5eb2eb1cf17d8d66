"""Parse raw message bytes into the summary mailops stores and shows.

Parsing never raises and never loses a message: anything the parser could not
make sense of (bad charsets, broken MIME structure, undecodable headers) is
recorded as a defect string on the result, and the raw bytes stay the truth.
"""

from __future__ import annotations

import email.utils
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email import policy
from email.message import EmailMessage, Message
from email.parser import BytesParser

from mailops.htmltext import html_to_text

_PARSER = BytesParser(policy=policy.default)
_MAX_INDEXED_TEXT = 1_000_000  # characters of body text fed to the index per message


@dataclass
class Part:
    """One leaf MIME part, numbered in document order from 1."""

    number: int
    content_type: str
    filename: str | None
    size: int
    disposition: str | None


@dataclass
class Parsed:
    """What mailops knows about a message beyond its raw bytes."""

    message_id: str | None = None
    subject: str = ""
    from_: str = ""
    to: list[str] = field(default_factory=list)
    cc: list[str] = field(default_factory=list)
    bcc: list[str] = field(default_factory=list)
    date: str | None = None  # ISO 8601 in UTC
    date_ts: float | None = None
    text: str = ""  # the body as plain text (HTML reduced)
    has_html: bool = False
    attachments: list[str] = field(default_factory=list)
    parts: list[Part] = field(default_factory=list)
    defects: list[str] = field(default_factory=list)


def clean(text: str) -> str:
    """Make parser output storable: 8-bit header bytes arrive as surrogate escapes
    (undecodable in UTF-8); read them as UTF-8 with replacement, drop NULs."""
    if any("\udc80" <= ch <= "\udcff" for ch in text):
        text = text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    return text.encode("utf-8", "replace").decode("utf-8").replace("\x00", "")


def parse_message(raw: bytes) -> EmailMessage:
    """Parse raw bytes with the modern policy (never raises on malformed input)."""
    msg = _PARSER.parsebytes(raw)
    assert isinstance(msg, EmailMessage)
    return msg


def _header(msg: Message, name: str, defects: list[str]) -> str | None:
    try:
        value = msg.get(name)
    except Exception as exc:  # the header folder/decoder raises on some junk
        defects.append(f"header {name}: {type(exc).__name__}")
        return None
    if value is None:
        return None
    try:
        return clean(str(value))
    except Exception as exc:
        defects.append(f"header {name}: {type(exc).__name__}")
        return None


def _addresses(msg: Message, name: str, defects: list[str]) -> list[str]:
    """Every address in every occurrence of a header, as 'Name <addr>' or 'addr'."""
    try:
        values = msg.get_all(name) or []
    except Exception as exc:
        defects.append(f"header {name}: {type(exc).__name__}")
        return []
    out: list[str] = []
    for value in values:
        try:
            groups = getattr(value, "addresses", None)
            if groups is not None:
                out.extend(clean(str(a)) for a in groups)
                continue
        except Exception as exc:
            defects.append(f"header {name}: {type(exc).__name__}")
        for display, addr in email.utils.getaddresses([str(value)]):
            if addr or display:
                out.append(clean(email.utils.formataddr((display, addr)) if display else addr))
    return out


def _part_text(part: Message, defects: list[str]) -> str:
    try:
        content = part.get_content()  # type: ignore[attr-defined]
        if isinstance(content, str):
            return clean(content)
    except Exception as exc:
        defects.append(f"part {part.get_content_type()}: {type(exc).__name__}")
    payload = part.get_payload(decode=True)
    if isinstance(payload, bytes):
        return clean(payload.decode("utf-8", errors="replace"))
    return ""


def summarize(raw: bytes) -> Parsed:
    """Extract headers, body text, attachment names and defects from raw bytes."""
    out = Parsed()
    try:
        msg = parse_message(raw)
    except Exception as exc:  # defensive: the stdlib parser is meant not to raise
        out.defects.append(f"unparseable: {type(exc).__name__}")
        return out
    d = out.defects
    out.defects.extend(type(x).__name__ for x in msg.defects)
    mid = _header(msg, "Message-ID", d)
    out.message_id = mid.strip().strip("<>") if mid else None
    out.subject = (_header(msg, "Subject", d) or "").replace("\n", " ").replace("\r", "")
    froms = _addresses(msg, "From", d)
    out.from_ = froms[0] if froms else ""
    out.to = _addresses(msg, "To", d)
    out.cc = _addresses(msg, "Cc", d)
    out.bcc = _addresses(msg, "Bcc", d)
    date = _header(msg, "Date", d)
    if date:
        try:
            when = email.utils.parsedate_to_datetime(date)
            if when.tzinfo is None:
                when = when.replace(tzinfo=UTC)
            out.date_ts = when.timestamp()
            out.date = when.astimezone(UTC).isoformat()
        except (TypeError, ValueError, IndexError, OverflowError):
            d.append("unparseable Date header")
    texts: list[str] = []
    number = 0
    for part in msg.walk():
        if part.is_multipart():
            continue
        number += 1
        ctype = part.get_content_type()
        try:
            filename = part.get_filename()
            filename = clean(filename) if filename else None
        except Exception:
            filename = None
        disposition = part.get_content_disposition()
        payload = part.get_payload(decode=True)
        size = len(payload) if isinstance(payload, bytes) else 0
        out.parts.append(Part(number, ctype, filename, size, disposition))
        out.defects.extend(type(x).__name__ for x in part.defects)
        if filename or disposition == "attachment":
            out.attachments.append(filename or f"part{number}")
        elif ctype == "text/plain":
            texts.append(_part_text(part, d))
        elif ctype == "text/html":
            out.has_html = True
            if not texts:  # prefer the plain alternative when there is one
                texts.append(html_to_text(_part_text(part, d))[0])
    out.text = "\n".join(texts)[:_MAX_INDEXED_TEXT]
    # The same defect can repeat per part; keep the first occurrence of each.
    out.defects = list(dict.fromkeys(out.defects))
    return out


def now_iso() -> str:
    """The current time as ISO 8601 UTC (used for received-at stamps)."""
    return datetime.now(UTC).isoformat()
