"""The summary parse of a message, shortened for big base64 attachments.

The stdlib feed parser handles a message line by line in Python: a 2 MB
attachment is ~27,000 lines and ~90% of its parse time, yet the summary needs
only the part's headers and decoded size. So a big message is parsed with the
middle of each long run of base64 lines left out (`_slim`), by the same stdlib
parser, and the result is kept only when the parse itself shows that it is
provably equivalent, i.e. nothing the summary keeps could change (see
_summarize_parsed): each gap lies inside one leaf part's payload, that part is
base64 without defects and gives no indexed text; its size is then put back
(every 4 characters left out decode to 3 bytes). Otherwise the whole message is
parsed as before. tests/test_mime_slim.py and tests/test_import_equivalence.py
pin slim == whole.

`mailops.mime.summarize` (the public entry point) calls `_summarize` here.
"""

from __future__ import annotations

from dataclasses import dataclass
from email.message import Message

from mailops.htmltext import html_to_text
from mailops.mime import (
    _MAX_INDEXED_TEXT,
    _SUMMARY_PARSER,
    Parsed,
    Part,
    _addresses,
    _date,
    _header,
    _header_object,
    _part_text,
    _plain,
    _raw_headers,
    _TextHeader,
    _unfold,
    clean,
    message_ids,
)

_SLIM_FROM = 64 * 1024  # messages smaller than this are always parsed whole
_SLIM_MIN_CUT = 16 * 1024  # bytes of base64 lines worth leaving out
# Base64 alphabet -> "a", line ends kept, anything else -> "." (for C-speed finds).
_B64_CLASS = bytes(
    ord("a") if chr(c).isascii() and (chr(c).isalnum() or chr(c) in "+/") else
    c if chr(c) in "\r\n" else ord(".") for c in range(256))
_B64_PROBE = b"a" * 60  # no line of prose has 60 base64 characters in a row


@dataclass(frozen=True)
class _Cut:
    """Lines left out of a message: the kept lines around the gap, and how much
    the left-out lines decode to."""

    around: str  # the line before the gap (with its line end) + the line after it
    decoded: int  # bytes the left-out base64 characters decode to


def _line_at(t: bytes, start: int, end: int) -> int:
    """The end (after its newline) of the line starting at `start`, or -1."""
    nl = t.find(b"\n", start, end)
    return -1 if nl < 0 else nl + 1


def _slim(raw: bytes, min_cut: int = _SLIM_MIN_CUT) -> tuple[bytes, list[_Cut]]:
    """`raw` without the middle lines of its long base64 runs, and what was cut.

    Only whole, non-blank lines of base64 characters are left out (no "=", so no
    padding; a multiple of 4 characters in all), between a kept head line and a
    kept tail line, so the part decodes (or fails to) exactly as before.
    """
    t = raw.translate(_B64_CLASS)
    pieces: list[bytes] = []
    cuts: list[_Cut] = []
    pos = kept = 0
    while (hit := t.find(_B64_PROBE, pos)) >= 0:
        end = t.find(b".", hit)
        end = len(t) if end < 0 else end
        pos = end
        head = t.rfind(b"\n", kept, hit) + 1  # the line the run starts in is kept
        if head < kept:
            continue
        head_end = _line_at(t, head, end)
        tail_end = t.rfind(b"\n", head_end, end) + 1  # after the last whole line
        tail = head_end
        while head_end > 0 and tail_end > head_end:
            tail = t.rfind(b"\n", head_end - 1, tail_end - 1) + 1
            if t[tail:tail_end].strip(b"\r\n"):
                break  # the last whole non-blank line is kept too
            tail_end = tail
        # (Searched in place: a copy of a 2 MB run costs more than the searches.)
        if (head_end <= 0 or tail - head_end < min_cut or t[head_end] in b"\r\n"
                or t.find(b"\n\n", head_end, tail) >= 0
                or t.find(b"\n\r\n", head_end, tail) >= 0):
            continue
        returns = t.count(b"\r", head_end, tail)
        if returns and returns != t.count(b"\r\n", head_end, tail):
            continue  # a lone CR ends a line for the parser: could make a blank one
        chars = tail - head_end - t.count(b"\n", head_end, tail) - returns
        if chars % 4:
            continue
        around = raw[head:head_end] + raw[tail:tail_end].rstrip(b"\r\n")
        pieces.append(raw[kept:head_end])
        kept = tail
        cuts.append(_Cut(around.decode("ascii", "surrogateescape"), chars // 4 * 3))
    if not cuts:
        return raw, []
    pieces.append(raw[kept:])
    slim = b"".join(pieces)
    if any(slim.count(c.around.encode("ascii", "surrogateescape")) != 1 for c in cuts):
        return raw, []  # a gap must be found in one place only
    return slim, cuts


def _summarize(raw: bytes, slim_from: int | None = _SLIM_FROM,
               min_cut: int = _SLIM_MIN_CUT) -> Parsed:
    """summarize without the memo; `slim_from=None` always parses the whole message."""
    if slim_from is not None and len(raw) >= slim_from:
        slim, cuts = _slim(raw, min_cut)
        if cuts:
            out = _summarize_parsed(slim, cuts)
            if out is not None:
                return out
    whole = _summarize_parsed(raw, [])
    assert whole is not None  # only a cut can be refused
    return whole


def _summarize_parsed(raw: bytes, cuts: list[_Cut]) -> Parsed | None:
    try:
        msg = _SUMMARY_PARSER.parsebytes(raw)
    except Exception as exc:  # defensive: the stdlib parser is meant not to raise
        if cuts:
            return None
        out = Parsed()
        out.defects.append(f"unparseable: {type(exc).__name__}")
        return out
    out = summary_head(msg)
    texts: list[str] = []
    number = found = 0
    for part in msg.walk():
        if part.is_multipart():
            continue
        number += 1
        extra = 0
        if cuts:
            inside = _cuts_inside(part, cuts)
            if inside:
                if not _cut_allowed(part):
                    return None
                extra = sum(c.decoded for c in inside)
                found += len(inside)
        summary_leaf(out, texts, number, part, extra)
    if found != len(cuts):
        return None  # a gap outside every leaf's payload (a preamble, say): parse whole
    summary_end(out, texts)
    return out


def summary_head(msg: Message) -> Parsed:
    """The message-level fields of a summary (ids, subject, addresses, X-Tags, date)
    and the top-level defects, from a message the stdlib parser built."""
    out = Parsed()
    d = out.defects
    out.defects.extend(type(x).__name__ for x in msg.defects)
    heads = _raw_headers(msg)
    mid = _header(heads, "Message-ID", d)
    out.message_id = mid.strip().strip("<>") if mid else None
    out.references = message_ids(_header(heads, "References", d))
    replied = message_ids(_header(heads, "In-Reply-To", d))
    out.in_reply_to = replied[0] if replied else None
    out.subject = (_header(heads, "Subject", d) or "").replace("\n", " ").replace("\r", "")
    froms = _addresses(heads, "From", d)
    out.from_ = froms[0] if froms else ""
    out.to = _addresses(heads, "To", d)
    out.cc = _addresses(heads, "Cc", d)
    out.bcc = _addresses(heads, "Bcc", d)
    try:  # auto-tagging reads these; a broken header must not stop indexing
        out.x_tags = [clean(_unfold(raw)) if _plain(_unfold(raw))
                      else clean(str(_header_object(written, raw)))
                      for written, raw in heads.get("x-tags", ())]
    except Exception as exc:
        d.append(f"header X-Tags: {type(exc).__name__}")
    _date(heads, out)
    return out


def summary_leaf(out: Parsed, texts: list[str], number: int, part: Message,
                 extra: int = 0) -> None:
    """Add leaf part `number` (from 1, document order) to the summary: its Part, its
    defects, its attachment name or its text; `extra` decoded bytes were left out."""
    d = out.defects
    ctype = part.get_content_type()
    filename = _filename(part)
    disposition = part.get_content_disposition()
    payload = part.get_payload(decode=True)
    size = (len(payload) if isinstance(payload, bytes) else 0) + extra
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


def summary_end(out: Parsed, texts: list[str]) -> None:
    """Join the texts (capped) and drop repeated defects."""
    out.text = "\n".join(texts)[:_MAX_INDEXED_TEXT]
    # The same defect can repeat per part; keep the first occurrence of each.
    out.defects = list(dict.fromkeys(out.defects))


def _filename(part: Message) -> str | None:
    try:
        filename = part.get_filename()
        return clean(filename) if filename else None
    except Exception:
        return None


def _cut_allowed(part: Message) -> bool:
    """Whether lines may be left out of this leaf's payload: base64 without defects,
    giving no indexed text (nothing the summary keeps then depends on them)."""
    disposition = part.get_content_disposition()
    indexed = not (_filename(part) or disposition == "attachment") and \
        part.get_content_type() in ("text/plain", "text/html")
    payload = part.get_payload(decode=True)  # first: decoding records the part's defects
    return not (indexed or part.defects or not isinstance(payload, bytes)
                or str(part.get("content-transfer-encoding", "")).lower() != "base64")


def _cuts_inside(part: Message, cuts: list[_Cut]) -> list[_Cut]:
    """The cuts whose gap is inside this leaf part's (undecoded) payload."""
    text = part.get_payload()
    if not isinstance(text, str):
        return []
    return [c for c in cuts if c.around in text]

