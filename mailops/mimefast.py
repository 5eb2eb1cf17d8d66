"""A faster route to the very same summary `mailops.mime.summarize` computes.

The stdlib feed parser reads a message line by line in Python, and that loop is
most of an import's CPU. This module builds the *same* stdlib `EmailMessage`
objects without it, or declines (returns None) so the whole stdlib parse runs:

- a header block (the message's, a part's) ends at its first empty line. When
  each of its lines is a `name:` line or a continuation, the feed parser's header
  loop amounts to handing each header's lines to the policy's
  `header_source_parse`, which is done here; any other block is parsed by the
  stdlib parser itself (headers only) and declined if that records a defect;
- a non-multipart body is then exactly the rest of the bytes, which is what the
  feed parser stores as the payload;
- a multipart is parsed by `fast_mail_parser` (Rust), and its tree is only used
  where the raw bytes confirm it: each part must sit between two delimiter lines
  the feed parser would stop at (its boundaryre), the part count and each leaf's
  content type and size before transfer-decoding must agree, and the part's
  header lines must spell fast_mail_parser's `name: value` pairs exactly (else
  they go through the stdlib as above). Each leaf becomes an `EmailMessage` with
  those headers and that payload, less the line end that belongs to the next
  delimiter, as the feed parser does.

Every field is then computed by the stdlib code the slow path uses (header
helpers of mailops.mime, get_content, get_payload, get_filename, html_to_text),
so values and defects are the same by construction; fast_mail_parser's own
decoded values are never used. Anything unusual declines: header-block defects,
lone CRs, message/* parts, multipart/digest, missing or doubled delimiters, an
unparseable tree or any disagreement between the two parsers.
tests/test_mimefast.py pins summarize_fast == the stdlib path.
"""

from __future__ import annotations

import re
from email.message import EmailMessage, Message
from itertools import pairwise

import fast_mail_parser as fmp

from mailops.mime import _SUMMARY_HEADERS, _SUMMARY_PARSER, _SUMMARY_POLICY, Parsed
from mailops.mimeslim import summary_end, summary_head, summary_leaf

# The end of a header block: a line end followed by an empty line.
_BLANK = re.compile(rb"\n\r?\n")
# One header: its first line (a name the feed parser's headerRE accepts, then a
# colon) and its continuation lines; LF or CRLF line ends only.
_HEADER_LINES = re.compile(rb"[\x21-\x39\x3b-\x7e]+:[^\r\n]*\r?\n(?:[ \t][^\r\n]*\r?\n)*")
# A header name the feed parser's headerRE accepts (printable ASCII but ':').
_NAME = re.compile(r"[\x21-\x39\x3b-\x7e]+\Z")
# The headers the summary reads (see _summary and the stdlib accessors it calls:
# get_content_type, get_filename, get_content_disposition, get_payload, get_content).
_READ_TEXT = _SUMMARY_HEADERS | {"content-type", "content-disposition",
                                 "content-transfer-encoding"}
_READ = frozenset(name.encode() for name in _READ_TEXT)
_MAX_DEPTH = 4  # nested multiparts followed; deeper ones go to the stdlib
# The rest of a delimiter line after "--boundary": the feed parser's boundaryre.
_DELIMITER_END = re.compile(rb"(--)?[ \t]*(?:\r?\n|\Z)")


def summarize_fast(raw: bytes) -> Parsed | None:
    """The summary of `raw`, equal to the stdlib path's, or None to decline."""
    try:
        built = _build(raw)
        return None if built is None else _summary(*built)
    except (KeyboardInterrupt, SystemExit):
        raise
    except BaseException:  # never raise where the stdlib path would not: let it decide.
        # BaseException: a panic in the Rust parser arrives as pyo3's PanicException,
        # which is not an Exception.
        return None


def _build(raw: bytes) -> tuple[Message, list[Message]] | None:
    """The top-level message and its leaf parts as the feed parser would build them."""
    top = _head(raw, 0, len(raw))
    if top is None:
        return None
    msg, body = top
    if msg.defects:
        return None
    maintype = msg.get_content_maintype()
    if maintype == "message":
        return None  # the feed parser parses the embedded message
    if maintype != "multipart":
        msg.set_payload(raw[body:].decode("ascii", "surrogateescape"))
        return msg, [msg]
    # Lone CRs end lines for the feed parser: the delimiter search assumes LF or CRLF.
    if raw.count(b"\r") != raw.count(b"\r\n"):
        return None
    try:
        tree = fmp.parse_email_tree(raw, mode="lazy")
    except fmp.ParseError:  # fast_mail_parser refused it: the stdlib will say why
        return None
    leaves: list[Message] = []
    if not _split(raw, msg, body, len(raw), tree, 0, leaves):
        return None
    return msg, leaves


def _head(raw: bytes, start: int, end: int) -> tuple[Message, int] | None:
    """The stdlib's message for the header block at raw[start:end] and where its body
    starts, or None when the block has no clean end (then the parser would differ)."""
    if raw.startswith(b"\n", start) or raw.startswith(b"\r\n", start):
        return None  # no headers at all: rare, left to the stdlib
    m = _BLANK.search(raw, start, end)
    if m is None:
        return None
    msg = _plain_headers(raw, start, m.start() + 1)
    if msg is None:
        msg = _SUMMARY_PARSER.parsebytes(raw[start:m.end()], headersonly=True)
        if msg.get_payload():
            return None  # the headers ended before the blank line (a non-header line)
    return msg, m.end()


def _plain_headers(raw: bytes, start: int, end: int) -> Message | None:
    """The message the feed parser makes of raw[start:end] when every line there is
    a header line (`name:` or a continuation of one), else None.

    For such a block the parser's header loop reduces to this: each header's lines
    go to the policy's header_source_parse, no defect is possible. Only the headers
    the summary reads are kept (Message.get finds the first of a name, whatever
    else is there; fewer headers make every get cheaper)."""
    msg = EmailMessage(policy=_SUMMARY_POLICY)
    pos = start
    while pos < end:
        m = _HEADER_LINES.match(raw, pos, end)
        if m is None:
            return None
        pos = m.end()
        if raw[m.start():raw.index(b":", m.start())].lower() not in _READ:
            continue
        # bytes.splitlines: str's would also split at \x0b, \x0c and \x1c-\x1e
        lines = [line.decode("ascii", "surrogateescape")
                 for line in m.group().splitlines(keepends=True)]
        msg.set_raw(*_SUMMARY_POLICY.header_source_parse(lines))
    return msg


def _part_head(raw: bytes, start: int, end: int,
               node: fmp.PyLazyMimePart) -> tuple[Message, int] | None:
    """The message for a part's header block, from fast_mail_parser's headers when
    they spell the raw lines exactly, else from the stdlib's header parse."""
    for eol in (b"\r\n", b"\n"):
        if raw.startswith(eol, start):  # no headers: the body follows the blank line
            return EmailMessage(policy=_SUMMARY_POLICY), start + len(eol)
    lines = [f"{name}: {value}" for name, values in node.headers.items() for value in values]
    if lines and all(line.isascii() and "\r" not in line and "\n" not in line
                     for line in lines) and all(
            _NAME.match(name) for name in node.headers):
        encoded = [line.encode("ascii") for line in lines]
        for eol in (b"\r\n", b"\n"):
            block = eol.join(encoded) + eol + eol
            if raw.startswith(block, start) and start + len(block) <= end:
                msg = EmailMessage(policy=_SUMMARY_POLICY)
                ending = eol.decode()
                for line in lines:  # what the feed parser hands the policy, line end included
                    if line[:line.index(":")].lower() in _READ_TEXT:
                        msg.set_raw(*_SUMMARY_POLICY.header_source_parse([line + ending]))
                return msg, start + len(block)
    found = _head(raw, start, end)
    if found is None or found[0].defects:
        return None
    return found


def _split(raw: bytes, msg: Message, start: int, end: int, node: fmp.PyLazyMimePart,
           depth: int, leaves: list[Message]) -> bool:
    """Append the leaves of multipart `msg`, whose body is raw[start:end], as the feed
    parser would build them; False when that is not certain."""
    boundary = msg.get_boundary()
    if (not boundary or not boundary.isascii() or depth > _MAX_DEPTH
            or msg.get_content_subtype() == "digest"  # children default to message/rfc822
            or str(msg.get("content-transfer-encoding", "8bit")).lower()
            not in ("7bit", "8bit", "binary")):  # the parser records a defect
        return False
    marks = _delimiters(raw, b"--" + boundary.encode("ascii"), start, end)
    if len(marks) < 2 or marks[0][2] or not marks[-1][2]:
        return False  # no start or no close delimiter: defects
    children = node.children
    if len(children) != len(marks) - 1:
        return False
    for child, (before, after) in zip(children, pairwise(marks), strict=True):
        first, last = before[1], after[0]
        if first >= last:
            return False  # adjacent delimiters: the parser skips them
        found = _part_head(raw, first, last, child)
        if found is None:
            return False
        part, body = found
        maintype = part.get_content_maintype()
        if maintype == "message":
            return False
        if maintype == "multipart":
            if not _split(raw, part, body, last, child, depth + 1, leaves):
                return False
            continue
        # The line end before a delimiter belongs to the delimiter.
        stop = last - 2 if raw.endswith(b"\r\n", body, last) else \
            last - 1 if raw.endswith(b"\n", body, last) else last
        if (child.children or child.encoded_size != stop - body
                or child.content_type != part.get_content_type()):
            return False  # the two parsers disagree: leave it to the stdlib
        part.set_payload(raw[body:stop].decode("ascii", "surrogateescape"))
        leaves.append(part)
    return True


def _delimiters(raw: bytes, separator: bytes, start: int,
                end: int) -> list[tuple[int, int, bool]]:
    """(line start, line end, is the close delimiter) of the delimiter lines in
    raw[start:end] up to the first close one; `start` is a line start and there are
    no lone CRs, so a line starts at `start` or after a LF."""
    marks: list[tuple[int, int, bool]] = []
    pos = start
    while (at := raw.find(separator, pos, end)) >= 0:
        pos = at + 1
        if at != start and raw[at - 1] != 0x0A:
            continue
        rest = _DELIMITER_END.match(raw, at + len(separator), end)
        if rest is None:
            continue
        close = rest.group(1) is not None
        marks.append((at, rest.end(), close))
        if close:
            break
        pos = rest.end()
    return marks


def _summary(msg: Message, leaves: list[Message]) -> Parsed:
    """The summary fields from the rebuilt messages, by the stdlib path's own code."""
    out = summary_head(msg)
    texts: list[str] = []
    for number, part in enumerate(leaves, 1):
        summary_leaf(out, texts, number, part)
    summary_end(out, texts)
    return out
