"""Parse raw message bytes into the summary mailops stores and shows.

Parsing never raises and never loses a message: anything the parser could not
make sense of (bad charsets, broken MIME structure, undecodable headers) is
recorded as a defect string on the result, and the raw bytes stay the truth.
"""

from __future__ import annotations

import email.utils
import re
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email import errors, policy
from email.headerregistry import BaseHeader, HeaderRegistry, UnstructuredHeader
from email.message import EmailMessage, Message
from email.parser import BytesParser
from typing import Any


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

    def __init__(self, memo: threading.local | None = None) -> None:
        super().__init__()
        self._memo = memo
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
        # With a memo (summarize's parser), each header value is parsed once:
        # policy.default re-parses it on every read, and the feed parser and the
        # part accessors read Content-Type ~15 times for a typical multipart
        # message. Header objects are immutable, so the memo is kept across
        # messages (bounded: see summarize).
        memo: dict[tuple[str, str], BaseHeader] | None = (
            getattr(self._memo, "headers", None) if self._memo is not None else None)
        if memo is not None and (hit := memo.get((name, value))) is not None:
            return hit
        try:
            result: BaseHeader = super().__call__(name, value)
        except Exception:
            header = self._text_class
            try:
                result = header(name, value)
            except Exception:  # even the unstructured parser failed: keep the ASCII
                result = header(name, value.encode("ascii", "replace").decode("ascii")
                                .replace("=?", "= ?"))
        if memo is not None:
            memo[(name, value)] = result
        return result


_POLICY = policy.default.clone(header_factory=_TolerantRegistry())
_PARSER = BytesParser(policy=_POLICY)
# summarize() parses with its own memoizing factory; the memo is per thread, so
# no header object crosses threads.
_SUMMARY_MEMO = threading.local()
# The caches behind that memo, per thread; each is emptied when it reaches
# _CACHE_MAX entries (a few MB: header objects hold their parse trees).
_KEPT = threading.local()
_CACHE_MAX = 2048
_SUMMARY_POLICY = policy.default.clone(header_factory=_TolerantRegistry(_SUMMARY_MEMO))
_SUMMARY_PARSER = BytesParser(policy=_SUMMARY_POLICY)
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
    if not text.isascii():  # ASCII (most text) has neither escapes nor lone surrogates
        if _ESCAPED_BYTE.search(text):  # a regex: a per-character loop was half of import time
            text = text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
        text = text.encode("utf-8", "replace").decode("utf-8")
    return _CONTROLS.sub("", text)


def parse_message(raw: bytes) -> EmailMessage:
    """Parse raw bytes with the modern policy (never raises on malformed input)."""
    msg = _PARSER.parsebytes(raw)
    assert isinstance(msg, EmailMessage)
    return msg


# -- summary headers --------------------------------------------------------------
#
# policy.default turns every header read into a header object through the
# structured parsers of email.headerregistry (~0.1 ms per address header): that
# was most of the indexer's CPU per message. The summary reads each header's
# raw value instead, and takes a shortcut only where the value is plain ASCII
# with no encoded word and (for Message-ID and address lists) of a simple shape
# whose header object is known to print back as computed here; anything else
# (RFC 2047 words, 8-bit bytes, groups, comments, quoting with escapes) goes
# through the header object exactly as before, defects included.
# tests/test_mime_fast.py pins this against a header-object-only reference.

_SUMMARY_HEADERS = frozenset(
    {"message-id", "references", "in-reply-to", "subject", "from", "to", "cc", "bcc",
     "x-tags", "date"})
_ATEXT = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]"
_DOT_ATOM = rf"{_ATEXT}+(?:\.{_ATEXT}+)*"
_SIMPLE_MSGID = re.compile(rf"[ \t]*<{_DOT_ATOM}@{_DOT_ATOM}>[ \t]*")
# One list item: `addr`, `<addr>`, `words <addr>` or `"quoted text" <addr>` (printable
# ASCII, no backslash or quote inside the quotes), then a comma or the end.
_MAILBOX = re.compile(
    rf"[ \t]*(?:(?:(?P<words>{_ATEXT}+(?:[ \t]+{_ATEXT}+)*)"
    rf"|\"(?P<quoted>[ !#-\[\]-~]*)\")[ \t]*<(?P<named>{_DOT_ATOM}@{_DOT_ATOM})>"
    rf"|<(?P<angle>{_DOT_ATOM}@{_DOT_ATOM})>|(?P<bare>{_DOT_ATOM}@{_DOT_ATOM}))"
    rf"[ \t]*(?:,|\Z)")
_SPECIALS = frozenset('()<>@,:;.\\"[]')  # email._header_value_parser.SPECIALS

RawHeaders = dict[str, list[tuple[str, str]]]


def _raw_headers(msg: Message) -> RawHeaders:
    """The summary headers' (name as written, raw value) pairs, by lower-case name."""
    out: RawHeaders = {}
    for name, value in msg.raw_items():
        key = name.lower()
        if key in _SUMMARY_HEADERS and isinstance(value, str):
            out.setdefault(key, []).append((name, value))
    return out


def _unfold(value: str) -> str:
    # What policy.default.header_fetch_parse hands the header factory.
    return value.replace("\r", "").replace("\n", "") if "\r" in value or "\n" in value \
        else value


def _plain(text: str) -> bool:
    """ASCII without an encoded word: an unstructured header prints back unchanged."""
    return text.isascii() and "=?" not in text


def _header_object(name: str, raw: str) -> Any:
    return _SUMMARY_POLICY.header_fetch_parse(name, raw)


def _results() -> dict[tuple[str, str, str], Any] | None:
    """summarize's cache of slow-path header results, or None outside summarize."""
    cache: dict[tuple[str, str, str], Any] | None = getattr(_SUMMARY_MEMO, "results", None)
    return cache


def _header(heads: RawHeaders, name: str, defects: list[str]) -> str | None:
    """The first occurrence of a header as text (unstructured or Message-ID)."""
    found = heads.get(name.lower())
    if not found:
        return None
    written, raw = found[0]
    text = _unfold(raw)
    if _plain(text) and (name.lower() != "message-id" or _SIMPLE_MSGID.fullmatch(text)):
        return clean(text)
    # The slow path's result depends on (name, written name, raw value) only, and
    # encoded subjects and names repeat across messages (replies, the same senders).
    cache, key = _results(), (name, written, raw)
    if cache is not None and (hit := cache.get(key)) is not None:
        defects.extend(hit[1])
        return hit[0]  # type: ignore[no-any-return]
    mine: list[str] = []
    result = _slow_header(name, written, raw, mine)
    defects.extend(mine)
    if cache is not None:
        cache[key] = (result, tuple(mine))
    return result


def _slow_header(name: str, written: str, raw: str, defects: list[str]) -> str | None:
    try:
        value = _header_object(written, raw)
    except Exception as exc:  # the header folder/decoder raises on some junk
        defects.append(f"header {name}: {type(exc).__name__}")
        return None
    if isinstance(value, _TextHeader):
        defects.append(f"header {name}: unparseable, kept as text")
    try:
        return clean(str(value))
    except Exception as exc:
        defects.append(f"header {name}: {type(exc).__name__}")
        return None


def _simple_addresses(text: str) -> list[str] | None:
    """The addresses of a simple list, printed as headerregistry.Address does, or
    None when the list needs the real parser."""
    if not _plain(text):
        return None
    out: list[str] = []
    pos, end = 0, len(text)
    while pos < end or not out:
        m = _MAILBOX.match(text, pos)
        if m is None or (m.end() == end and text.endswith(",")):  # "a@b," has an empty item
            return None
        pos = m.end()
        words, quoted, named = m.group("words"), m.group("quoted"), m.group("named")
        display = " ".join(words.split()) if words else quoted or ""
        if named is None:
            out.append(m.group("angle") or m.group("bare"))
        elif not display:
            out.append(named)
        elif _SPECIALS.isdisjoint(display):
            out.append(f"{display} <{named}>")
        else:
            out.append(f'"{display}" <{named}>')
    return out


def _addresses(heads: RawHeaders, name: str, defects: list[str]) -> list[str]:
    """Every address in every occurrence of a header, as 'Name <addr>' or 'addr'."""
    found = heads.get(name.lower(), ())
    if len(found) == 1:
        simple = _simple_addresses(_unfold(found[0][1]))
        if simple is not None:
            return [clean(a) for a in simple]
        # The common slow case (one header with encoded words): cached by raw value.
        cache, key = _results(), (name, found[0][0], found[0][1])
        if cache is not None and (hit := cache.get(key)) is not None:
            defects.extend(hit[1])
            return list(hit[0])
        mine: list[str] = []
        split = _split_addresses(_unfold(found[0][1]))
        result = split if split is not None else _slow_addresses(heads, name, mine)
        defects.extend(mine)
        if cache is not None:
            cache[key] = (tuple(result), tuple(mine))
        return result
    return _slow_addresses(heads, name, defects)


# Characters that make a list's commas ambiguous (quoting, comments, groups, literals),
# once its simple quoted strings (no comma, backslash or line end) are taken out.
_UNSPLITTABLE = re.compile(r'["()\\:;\[\]]')
_SIMPLE_QUOTED = re.compile(r'"[^"\\,\r\n]*"')
_NOT_ONE_MAILBOX = ""  # cached: this item does not parse alone as one clean mailbox


def _split_addresses(text: str) -> list[str] | None:
    """The addresses of a list whose items are plain mailboxes with encoded words
    (`=?utf-8?q?Zo=C3=AB?= <z@x.test>, Bob <b@y.test>`), each item parsed alone by
    the header object and cached: the same people recur in different lists. None
    unless every item parses alone as exactly one mailbox without defects (then
    the whole list gives the same addresses: tests/test_mime_fast.py)."""
    cache = _results()
    if cache is None or not text.isascii() or _UNSPLITTABLE.search(
            _SIMPLE_QUOTED.sub("", text) if '"' in text else text):
        return None
    out: list[str] = []
    for item in text.split(","):
        item = item.strip(" \t")
        if not item:
            return None  # empty items: the list parser's business
        key = ("<mailbox>", "", item)
        found = cache.get(key)
        if found is None:
            found = _NOT_ONE_MAILBOX
            try:
                value = _header_object("To", item)
                if not isinstance(value, _TextHeader) and not value.defects:
                    mailboxes = value.addresses
                    if len(mailboxes) == 1 and mailboxes[0].addr_spec:
                        found = clean(str(mailboxes[0]))
            except Exception:
                found = _NOT_ONE_MAILBOX
            cache[key] = found
        if found == _NOT_ONE_MAILBOX:
            return None
        out.append(found)
    return out


def _slow_addresses(heads: RawHeaders, name: str, defects: list[str]) -> list[str]:
    values: list[list[str] | Any] = []
    try:
        for written, raw in heads.get(name.lower(), ()):
            simple = _simple_addresses(_unfold(raw))
            values.append(simple if simple is not None else _header_object(written, raw))
    except Exception as exc:
        defects.append(f"header {name}: {type(exc).__name__}")
        return []
    out: list[str] = []
    for value in values:
        if isinstance(value, list):
            out.extend(clean(a) for a in value)
            continue
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


def _date(heads: RawHeaders, out: Parsed) -> None:
    """Date as ISO 8601 UTC and a timestamp, or a defect."""
    d = out.defects
    found = heads.get("date")
    when: datetime | None = None
    if found and found[0][1].isascii():
        # What the Date header object would print is format_datetime() of this
        # same parse: read back, the same instant.
        try:
            when = email.utils.parsedate_to_datetime(_unfold(found[0][1]))
        except Exception:  # the slow path below records the right defects
            when = None
    if when is None:
        date = _header(heads, "Date", d)
        if not date:
            return
        try:
            when = email.utils.parsedate_to_datetime(date)
        except (TypeError, ValueError, IndexError, OverflowError):
            d.append("unparseable Date header")
            return
    try:
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        out.date_ts = when.timestamp()
        out.date = when.astimezone(UTC).isoformat()
    except (TypeError, ValueError, IndexError, OverflowError):
        d.append("unparseable Date header")


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


def _kept(name: str) -> dict[Any, Any]:
    """One of this thread's caches that outlive a summarize call, emptied when full."""
    cache: dict[Any, Any] | None = getattr(_KEPT, name, None)
    if cache is None or len(cache) >= _CACHE_MAX:
        cache = {}
        setattr(_KEPT, name, cache)
    return cache


def summarize(raw: bytes, *, fast: bool = True) -> Parsed:
    """Extract headers, body text, attachment names and defects from raw bytes.

    `fast=False` skips the fast path (mailops.mimefast), whose result is the same:
    for benchmarks and tests that compare the two."""
    # Header objects and slow-path header results are kept across calls: the same
    # Content-Type values, senders and encoded names recur from message to message.
    # Imported here: mimeslim and mimefast build on this module's helpers (no import
    # cycle at load). The fast path gives the stdlib path's result or declines (None),
    # and the stdlib path, the reference, parses whatever it declines.
    from mailops.mimefast import summarize_fast
    from mailops.mimeslim import _summarize

    _SUMMARY_MEMO.headers = _kept("headers")
    _SUMMARY_MEMO.results = _kept("results")
    try:
        quick = summarize_fast(raw) if fast else None
        return quick if quick is not None else _summarize(raw)
    finally:
        _SUMMARY_MEMO.headers = _SUMMARY_MEMO.results = None


def now_iso() -> str:
    """The current time as ISO 8601 UTC (used for received-at stamps)."""
    return datetime.now(UTC).isoformat()
