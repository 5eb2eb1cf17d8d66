"""The summary's raw-header shortcuts give what the header objects gave.

`mailops.mime.summarize` reads Message-ID, References, In-Reply-To, Subject,
From/To/Cc/Bcc, X-Tags and Date from the raw header values and only builds
policy.default header objects when a value is not plain. `reference` below is
the previous code, which always went through the header objects: every field
and every header defect must come out the same, for CPython's email test
corpus, mailops' own oddities and generated headers (RFC 2047 encoded words,
non-ASCII names, unknown charsets, quoting, groups, folding, odd dates).

`summarize` also parses each header only once per message (a per-call memo of
header objects); every field, body and parts included, must be what the same
code gives without the memo.
"""

from __future__ import annotations

import email.utils
import glob
import os
from datetime import UTC, datetime, timedelta, timezone
from email.header import Header
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_malformed import OWN_ODDITIES, broken_message

from mailops.mime import _TextHeader, clean, message_ids, parse_message, summarize
from mailops.mimeslim import _summarize


def _ref_header(msg: Any, name: str, defects: list[str]) -> str | None:
    try:
        value = msg.get(name)
    except Exception as exc:
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


def _ref_addresses(msg: Any, name: str, defects: list[str]) -> list[str]:
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
                try:
                    text = email.utils.formataddr((display, addr)) if display else addr
                except UnicodeError:
                    text = f"{display} <{addr}>"
                out.append(clean(text))
    return out


def reference(raw: bytes) -> dict[str, Any]:
    """The summary's header fields as the header-object code computed them."""
    msg = parse_message(raw)
    d: list[str] = []
    out: dict[str, Any] = {}
    mid = _ref_header(msg, "Message-ID", d)
    out["message_id"] = mid.strip().strip("<>") if mid else None
    out["references"] = message_ids(_ref_header(msg, "References", d))
    replied = message_ids(_ref_header(msg, "In-Reply-To", d))
    out["in_reply_to"] = replied[0] if replied else None
    out["subject"] = (_ref_header(msg, "Subject", d) or "").replace("\n", " ").replace("\r", "")
    froms = _ref_addresses(msg, "From", d)
    out["from_"] = froms[0] if froms else ""
    for name in ("To", "Cc", "Bcc"):
        out[name.lower()] = _ref_addresses(msg, name, d)
    out["x_tags"] = []
    try:
        out["x_tags"] = [clean(str(v)) for v in msg.get_all("X-Tags") or []]
    except Exception as exc:
        d.append(f"header X-Tags: {type(exc).__name__}")
    out["date"] = out["date_ts"] = None
    date = _ref_header(msg, "Date", d)
    if date:
        try:
            when = email.utils.parsedate_to_datetime(date)
            if when.tzinfo is None:
                when = when.replace(tzinfo=UTC)
            out["date_ts"] = when.timestamp()
            out["date"] = when.astimezone(UTC).isoformat()
        except (TypeError, ValueError, IndexError, OverflowError):
            d.append("unparseable Date header")
    out["header_defects"] = list(dict.fromkeys(d))
    return out


def fast(raw: bytes) -> dict[str, Any]:
    """The same fields from summarize()."""
    p = summarize(raw)
    return {"message_id": p.message_id, "references": p.references,
            "in_reply_to": p.in_reply_to, "subject": p.subject, "from_": p.from_, "to": p.to,
            "cc": p.cc, "bcc": p.bcc, "x_tags": p.x_tags, "date": p.date, "date_ts": p.date_ts,
            "header_defects": [x for x in p.defects
                               if x.startswith("header ") or x == "unparseable Date header"]}


def check(raw: bytes) -> None:
    assert fast(raw) == reference(raw), raw
    assert summarize(raw) == _summarize(raw), raw  # outside summarize(): no memo


# -- fixed messages ------------------------------------------------------------------

def _cpython_corpus() -> dict[str, bytes]:
    try:
        import test  # the stdlib's test package; distributions may strip it
    except ImportError:
        return {}
    pattern = os.path.join(os.path.dirname(test.__file__), "test_email", "data", "msg_*.txt")
    return {Path(p).stem: Path(p).read_bytes() for p in sorted(glob.glob(pattern))}


FIXED = {
    **_cpython_corpus(), **OWN_ODDITIES,
    "smtp_source": b"From: <src@example.test>\r\nTo: <dst@example.test>\r\nDate: Sat, 28 Nov"
                   b" 2026 15:59:46 +0000 (UTC)\r\nMessage-Id: <3e8b.0003.07c8@vm>\r\n\r\nbody\r\n",
    "plain_shapes": b"From: Ann Example <ann@example.test>\nTo: a@b.test, \"Doe, J.\" <j@d.test>,"
                    b"  <c@d.test>\nCc: \" spaced  out \" <s@x.test>\nBcc: x.y+z@q.test\n"
                    b"Subject: plain\n  folded subject\nMessage-ID:  <a.b@c.d>  \n"
                    b"References: <r1@x> <r2@x>\nIn-Reply-To: <r2@x>\nX-Tags: one two\n"
                    b"X-Tags: three\nDate: 1 Jan 99 00:00 -0000\n\nbody\n",
    "encoded": "From: =?utf-8?q?Jos=C3=A9?= <jose@example.test>\nTo: =?iso-8859-1?b?Q2Fm6Q==?="
               " <c@x.test>, Zoë <z@x.test>\nSubject: =?utf-8?q?caf=C3=A9?= menu =?x-unknown?q?a?="
               "\nMessage-ID: <caf\u00e9@x>\nDate: Mon, 2 Feb 2026 10:00:00 +0530\n\nbody\n"
               .encode(),
    "groups_comments": b"From: (comment) a@b.test\nTo: team: a@b.test, c@d.test;, e@f.test\n"
                       b"Cc: undisclosed-recipients:;\nBcc: a@b.test,,c@d.test,\n"
                       b"Message-ID: <a@b> (c)\nDate: not a date\n\nbody\n",
    "empty_values": b"From:\nTo: \nSubject:\nMessage-ID:\nDate:\nX-Tags:\n\nbody\n",
}


@pytest.mark.parametrize("name", sorted(FIXED))
def test_fixed_messages(name: str) -> None:
    check(FIXED[name])


# -- generated headers ----------------------------------------------------------------

ATOM = st.text(alphabet="abcXYZ019!#$%&'*+-/=?^_`{|}~", min_size=1, max_size=6)
DOMAIN = st.lists(st.text(alphabet="abcz09-", min_size=1, max_size=5), min_size=1,
                  max_size=3).map(".".join)
LOCAL = st.lists(ATOM, min_size=1, max_size=3).map(".".join)
ADDR = st.builds(lambda local, domain: f"{local}@{domain}", LOCAL, DOMAIN)
ANY_TEXT = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\r\n"),
                   max_size=12)
CHARSETS = st.sampled_from(["utf-8", "iso-8859-1", "us-ascii", "x-unknown", "UTF-8"])


def _encoded(text: str, charset: str, which: str) -> str:
    """An RFC 2047 encoded word of text (raw junk when the charset cannot hold it)."""
    try:
        return Header(text, "utf-8" if charset == "x-unknown" else charset).encode()
    except (UnicodeError, LookupError):
        return f"=?{charset}?{which}?{text}?="


ENCODED = st.builds(_encoded, ANY_TEXT, CHARSETS, st.sampled_from(["q", "b", "Q"]))
WORDS = st.lists(st.one_of(ATOM, ENCODED, ANY_TEXT.filter(lambda s: s.strip())),
                 min_size=1, max_size=4).map(" ".join)
QUOTED = st.text(alphabet=" abc,.:;@<>()[]x\\\"é\t", max_size=10).map(lambda s: f'"{s}"')
DISPLAY = st.one_of(st.just(""), WORDS, QUOTED, ENCODED)
MAILBOX = st.one_of(
    ADDR, ADDR.map(lambda a: f"<{a}>"),
    st.builds(lambda d, a, sp: f"{d}{sp}<{a}>", DISPLAY, ADDR, st.sampled_from(["", " ", "  "])),
    st.builds(lambda d, a: email.utils.formataddr((d, a)), ANY_TEXT, ADDR),
    st.sampled_from(["", " ", "a@", "<>", "group: a@b.test;", "(x) a@b.test (y)", "a@[1.2.3.4]",
                     "\"a b\"@c.test", "<a@b.test", "a@b.test>"]))
ADDRESS_LIST = st.lists(MAILBOX, min_size=1, max_size=4).flatmap(
    lambda items: st.sampled_from([", ", ",", " , ", ",,"]).map(lambda sep: sep.join(items)))
MSGID = st.one_of(
    st.builds(lambda a, sp: f"{sp}<{a}>{sp}", ADDR, st.sampled_from(["", " ", "\t"])),
    st.builds(lambda a: f"<{a}> (comment)", ADDR), ANY_TEXT,
    st.sampled_from(["<a@[127.0.0.1]>", "<a..b@c>", "<a@b", "a@b>", "<>", "<a b@c>"]))
DATE = st.one_of(
    st.builds(lambda dt, off, gmt: email.utils.format_datetime(
        dt.replace(tzinfo=timezone(timedelta(minutes=off)))) if not gmt else
        email.utils.format_datetime(dt.replace(tzinfo=UTC), usegmt=True),
        st.datetimes(min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30)),
        st.integers(-23 * 60, 23 * 60), st.booleans()),
    st.sampled_from(["Mon, 1 Jan 2024 00:00:00 -0000", "1 Jan 99 10:00 EST", "yesterday",
                     "Sat, 1 Jan 10000 00:00:00 +0000", "Tue, 31 Feb 2023 25:61:61 -2500",
                     "Thu, 01 Jan 1970 00:00:00 +9999", "Fri, 13 Mar 2026 12:00:00 +0000 (UTC)",
                     "", "0"]),
    ANY_TEXT)
FOLD = st.sampled_from(["", "\r\n ", "\n\t", "\r\n  "])


def _fold(value: str, fold: str) -> str:
    """Fold a header value at its first space, as a long header would be."""
    head, sep, tail = value.partition(" ")
    return head + fold + tail if sep and fold else value


@st.composite
def headers(draw: st.DrawFn) -> bytes:
    fields = [("From", ADDRESS_LIST), ("To", ADDRESS_LIST), ("Cc", ADDRESS_LIST),
              ("Bcc", ADDRESS_LIST), ("Subject", WORDS), ("Message-ID", MSGID),
              ("References", st.lists(MSGID, max_size=3).map(" ".join)),
              ("In-Reply-To", MSGID), ("X-Tags", WORDS), ("Date", DATE)]
    lines = []
    for name, values in fields:
        for _ in range(draw(st.integers(0, 2))):
            value = _fold(draw(values), draw(FOLD))
            lines.append(f"{name}: {value}\r\n".encode("utf-8", "surrogateescape"))
    draw(st.randoms()).shuffle(lines)
    return b"".join(lines) + b"\r\nbody\r\n"


GENERATED = settings(max_examples=400, deadline=None, database=None,
                     suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


@GENERATED
@given(raw=headers())
def test_generated_headers(raw: bytes) -> None:
    check(raw)


@settings(max_examples=150, deadline=None, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(raw=broken_message())
def test_broken_messages(raw: bytes) -> None:
    check(raw)
