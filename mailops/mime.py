"""Parse raw message bytes into the summary mailops stores and shows.

Parsing never raises and never loses a message: anything the parser could not
make sense of (bad charsets, broken MIME structure, undecodable headers) is
recorded as a defect string on the result, and the raw bytes stay the truth.
"""

from __future__ import annotations

import email.utils
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email import errors, policy
from email.headerregistry import BaseHeader, HeaderRegistry, UnstructuredHeader
from email.message import EmailMessage, Message
from email.parser import BytesParser
from typing import Any

from mailops.htmltext import html_to_text


class _TextHeader(UnstructuredHeader):
    """A header the stdlib's structured parser raised on, kept as plain text."""

    @classmethod
    def parse(cls, value: str, kwds: dict[str, Any]) -> None:
        """Parse as unstructured text and record why."""
        super().parse(value, kwds)
        kwds["defects"].append(errors.HeaderDefect("unparseable header kept as text"))


class _TolerantRegistry(HeaderRegistry):
    """Header factory that never raises.

    CPython's structured header parsers raise (IndexError and others) on some
    junk, e.g. `Content-Disposition: attachment; filename*`; the feed parser
    reads Content-Type while parsing, so one such header made the whole message
    unparseable. Such a header falls back to unstructured text; the str-based
    accessors (get_content_type, get_filename, get_param) still work on it.
    """

    def __init__(self) -> None:
        super().__init__()
        self._classes: dict[str, type[BaseHeader]] = {}
        self._text_class: type[BaseHeader] = type(
            "_" + _TextHeader.__name__, (_TextHeader, self.base_class), {})

    def __getitem__(self, name: str) -> type[BaseHeader]:
        # The stdlib builds a new class with type() on every header read (~50 us);
        # the classes are identical, so build each once. Unknown names share the
        # default class, which keeps the cache small whatever names junk mail uses.
        key = name.lower() if name.lower() in self.registry else ""
        cls = self._classes.get(key)
        if cls is None:
            cls = self._classes[key] = super().__getitem__(name)
        return cls

    def __call__(self, name: str, value: str) -> BaseHeader:
        try:
            return super().__call__(name, value)
        except Exception:
            header = self._text_class
            try:
                result: BaseHeader = header(name, value)
            except Exception:  # even the unstructured parser failed: keep the ASCII
                result = header(name, value.encode("ascii", "replace").decode("ascii")
                                .replace("=?", "= ?"))
            return result


_POLICY = policy.default.clone(header_factory=_TolerantRegistry())
_PARSER = BytesParser(policy=_POLICY)
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
    in_reply_to: str | None = None  # message-id, without angle brackets
    references: list[str] = field(default_factory=list)  # oldest first
    x_tags: list[str] = field(default_factory=list)  # raw X-Tags header values


_MSGID = re.compile(r"<([^<>\s]+)>")


def message_ids(value: str | None) -> list[str]:
    """The <message-ids> in a References or In-Reply-To value, in order, deduplicated."""
    if not value:
        return []
    return list(dict.fromkeys(_MSGID.findall(value)))


_ESCAPED_BYTE = re.compile("[\udc80-\udcff]")
# C0/C1 controls but tab, LF and CR: NUL breaks storage, and ESC sequences in a
# subject or body would drive the terminal of whoever runs `ls` or `show`.
_CONTROLS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")


def clean(text: str) -> str:
    """Make parser output storable and safe to print: 8-bit header bytes arrive as
    surrogate escapes (undecodable in UTF-8); read them as UTF-8 with replacement,
    drop NULs and terminal control characters."""
    if _ESCAPED_BYTE.search(text):  # a regex: a per-character loop was half of import time
        text = text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    return _CONTROLS.sub("", text.encode("utf-8", "replace").decode("utf-8"))


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
    if isinstance(value, _TextHeader):
        defects.append(f"header {name}: unparseable, kept as text")
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
        if isinstance(value, _TextHeader):
            defects.append(f"header {name}: unparseable, kept as text")
        try:
            groups = getattr(value, "addresses", None)
            if groups is not None:
                out.extend(clean(str(a)) for a in groups)
                continue
        except Exception as exc:
            defects.append(f"header {name}: {type(exc).__name__}")
        for display, addr in email.utils.getaddresses([str(value)]):
            if addr or display:
                out.append(clean(_format_address(display, addr)))
    return out


def _format_address(display: str, addr: str) -> str:
    if not display:
        return addr
    try:
        return email.utils.formataddr((display, addr))
    except UnicodeError:  # formataddr refuses a non-ASCII address (8-bit junk)
        return f"{display} <{addr}>"


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
    out.references = message_ids(_header(msg, "References", d))
    replied = message_ids(_header(msg, "In-Reply-To", d))
    out.in_reply_to = replied[0] if replied else None
    out.subject = (_header(msg, "Subject", d) or "").replace("\n", " ").replace("\r", "")
    froms = _addresses(msg, "From", d)
    out.from_ = froms[0] if froms else ""
    out.to = _addresses(msg, "To", d)
    out.cc = _addresses(msg, "Cc", d)
    out.bcc = _addresses(msg, "Bcc", d)
    try:  # auto-tagging reads these; a broken header must not stop indexing
        out.x_tags = [clean(str(v)) for v in msg.get_all("X-Tags") or []]
    except Exception as exc:
        d.append(f"header X-Tags: {type(exc).__name__}")
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
        # A malformed Content-Type can come back as raw header text, controls included.
        out.parts.append(Part(number, clean(ctype), filename, size,
                              clean(disposition) if disposition else None))
        out.defects.extend(type(x).__name__ for x in part.defects)
        for name in ("Content-Type", "Content-Disposition"):
            if isinstance(part.get(name), _TextHeader):
                d.append(f"part {number} {name}: unparseable, kept as text")
        if filename or disposition == "attachment":
            out.attachments.append(filename or f"part{number}")
        elif ctype == "text/plain":
            texts.append(_part_text(part, d))
        elif ctype == "text/html":
            out.has_html = True
            if not texts:  # prefer the plain alternative when there is one
                # cleaned again: character references (&#27;) can spell controls
                texts.append(clean(html_to_text(_part_text(part, d))[0]))
    out.text = "\n".join(texts)[:_MAX_INDEXED_TEXT]
    # The same defect can repeat per part; keep the first occurrence of each.
    out.defects = list(dict.fromkeys(out.defects))
    return out


def now_iso() -> str:
    """The current time as ISO 8601 UTC (used for received-at stamps)."""
    return datetime.now(UTC).isoformat()
