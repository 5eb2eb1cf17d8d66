"""The fast summary path gives exactly the stdlib path's Parsed, or declines.

`mailops.mimefast.summarize_fast(raw)` must be None or equal, field for field,
to `mailops.mimeslim._summarize(raw)` (the stdlib path, called directly) for:
the synthetic benchmark corpus; every raw-message fixture of the suite
(CPython's email test corpus, mailops' own oddities and regressions, the header
and slimming edge cases); the suite's hypothesis strategies for broken mail,
odd headers and big multiparts; and a strategy of its own for almost-valid
multiparts (delimiter look-alikes, doubled or missing delimiters, folded and
odd part headers, nesting, every transfer encoding), which is where a split
that differs from the feed parser's would show.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import fields

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from test_import_equivalence import big_edge_cases, corpus_module
from test_malformed import broken_message
from test_mime_fast import FIXED, headers
from test_mime_slim import EDGE
from test_mime_slim import messages as big_multiparts

from mailops import mime
from mailops.mime import Parsed, summarize
from mailops.mimefast import summarize_fast
from mailops.mimeslim import _summarize


def differences(fast: Parsed, slow: Parsed) -> dict[str, tuple[object, object]]:
    return {f.name: (getattr(fast, f.name), getattr(slow, f.name)) for f in fields(Parsed)
            if getattr(fast, f.name) != getattr(slow, f.name)}


def check(raw: bytes) -> bool:
    """summarize_fast(raw) is None or the stdlib's result; True when it was taken."""
    fast = summarize_fast(raw)
    if fast is None:
        return False
    slow = _summarize(raw)
    assert fast == slow, (differences(fast, slow), raw[:600])
    return True


# -- the benchmark corpus ------------------------------------------------------------

@contextmanager
def memoized() -> Iterator[None]:
    """Both paths with summarize()'s header memo, as an import runs them (several
    times faster; tests/test_mime_fast.py pins memo == no memo)."""
    mime._SUMMARY_MEMO.headers = mime._kept("headers")
    mime._SUMMARY_MEMO.results = mime._kept("results")
    try:
        yield
    finally:
        mime._SUMMARY_MEMO.headers = mime._SUMMARY_MEMO.results = None


def test_corpus_takes_the_fast_path_with_the_same_result() -> None:
    raws = [m.raw for m in corpus_module().messages(2000, 1)]
    raws += [raw.replace(b"\r\n", b"\n") for raw in raws[::4]]  # LF line ends too
    with memoized():
        taken = sum(check(raw) for raw in raws)
    print(f"fast path: {taken} of {len(raws)} corpus messages")
    assert taken >= 0.95 * len(raws)  # the point of the fast path: most mail takes it
    # Wired: summarize() gives the stdlib result too.
    for raw in raws[:100]:
        assert summarize(raw) == _summarize(raw)


# -- every raw-message fixture of the suite ---------------------------------------------

FIXTURES = {**FIXED, **EDGE, **{f"big_edge_{i}": raw for i, raw in enumerate(big_edge_cases())}}


def test_fixtures_agree_or_decline() -> None:
    taken = [name for name, raw in sorted(FIXTURES.items()) if check(raw)]
    print(f"fast path: {len(taken)} of {len(FIXTURES)} fixtures")
    assert taken  # not vacuous: real-world mail takes it too


# -- generated mail -----------------------------------------------------------------

GENERATED = settings(max_examples=150, deadline=None, database=None,
                     suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


def generated(raw: bytes) -> None:
    """check(), with the share taking the fast path in --hypothesis-show-statistics."""
    event("fast path" if check(raw) else "declined")


@GENERATED
@given(raw=broken_message())
def test_broken_messages(raw: bytes) -> None:
    generated(raw)


@GENERATED
@given(raw=headers())
def test_generated_headers(raw: bytes) -> None:
    generated(raw)


@settings(GENERATED, max_examples=60)
@given(raw=big_multiparts())
def test_big_multiparts(raw: bytes) -> None:
    generated(raw)


def mostly(usual: list[str], odd: list[str]) -> st.SearchStrategy[str]:
    """One of `usual`, or (one time in ten) one of `odd`."""
    return st.integers(0, 9).flatmap(lambda k: st.sampled_from(odd if k == 0 else usual))


BOUNDARIES = mostly(["b", "=_Part_1.2+x", "x" * 70], ["a b", "b(1)?", "--b", "b\\c"])
PART_HEADERS = mostly([
    "Content-Type: text/plain; charset=utf-8", "Content-Type: text/plain; charset=iso-8859-1",
    "Content-Type: text/plain", "Content-Type: TEXT/HTML; charset=\"utf-8\"",
    "Content-Type: application/pdf; name=\"a.pdf\"", "Content-Type: image/png",
    "Content-Transfer-Encoding: base64", "Content-Transfer-Encoding: quoted-printable",
    "Content-Transfer-Encoding: 8bit", "content-transfer-encoding: 7bit",
    "Content-Disposition: attachment", "Content-Disposition: inline",
    "Content-Disposition: attachment; filename*=utf-8''%C3%9Cbersicht.pdf", "X-Dup: 1",
    "Content-ID: <c@x>",
], [
    "Content-Type: text/plain; charset=x-unknown", "Content-Type:text/plain",
    "Content-Type: text/plain;\r\n charset=utf-8", "Content-Type: text/plain;\n\tcharset=utf-8",
    "Content-Type: text/plain; name==?utf-8?q?caf=C3=A9?=.txt", "Content-Type: junk",
    "Content-Type: message/rfc822", "Content-Type: multipart/digest; boundary=d",
    "Content-Transfer-Encoding: BASE64", "Content-Transfer-Encoding: x-uuencode",
    "Content-Disposition: attachment; filename=\"r\xe9sum\xe9.pdf\"",
    "Content-Disposition: attachment; filename*", "Content-Disposition: attachment; filename=",
    "Content-Disposition: attachment;\r\n filename=\"folded.pdf\"", "X-Junk: trailing space ",
    "X-Empty:", "From x@y Mon Jan  1 00:00:00 2024", " continuation first", "no colon here",
    "X-Eight: caf\xe9",
])
BODIES = mostly([
    "", "hello", "hello\n", "line one\nline two\n\n", "caf\xe9 cr\xe8me\n",
    "aGVsbG8gd29ybGQ=\n", "caf=C3=A9 =\nsoft=3D break=\n", "<p>caf&eacute; <b>bold</b></p>\n",
], [
    "aGVsbG8gd29ybGQ\n", "aGVs*bG8=\n", "=ZZ =4\n", "--b but not a delimiter\n", " --b\n",
    "--bb\n", "--b--x\n", "\x00\x01 controls \x1b[31m\n", "begin 644 f\n#86)C\n`\nend\n",
    "\x0bv\x0cf\n",
])


@st.composite
def part_text(draw: st.DrawFn, boundary: str, depth: int) -> str:
    if depth < 2 and draw(st.integers(0, 4)) == 0:
        inner = draw(mostly(["alt", "c"], ["b", boundary + "x", boundary]))
        return (f"Content-Type: multipart/alternative; boundary=\"{inner}\"\n\n"
                + draw(multipart_body(inner, depth + 1)))
    lines = draw(st.lists(PART_HEADERS, max_size=4))
    gap = draw(mostly(["\n"], ["", " \n"]))
    return "".join(line + "\n" for line in lines) + gap + draw(BODIES)


@st.composite
def multipart_body(draw: st.DrawFn, boundary: str, depth: int = 0) -> str:
    out = draw(mostly(["", "preamble\n", "This is MIME.\n\n"], [f"--{boundary}x\n"]))
    for _ in range(draw(st.integers(1, 4))):
        out += f"--{boundary}" + draw(mostly(["", "  "], ["\t", " x", "--"])) + "\n"
        if draw(st.integers(0, 19)) == 0:
            out += f"--{boundary}\n"  # doubled delimiter
        out += draw(part_text(boundary, depth))
        out += draw(mostly(["\n"], ["\n\n", ""]))
    out += f"--{boundary}" + draw(mostly(["--"], ["-- ", "", "--x"]))
    return out + draw(mostly(["\n"], ["", "\nepilogue\n", f"\n--{boundary}\nX: y\n\nz\n"]))


TOP_HEADERS = mostly([
    "From: =?utf-8?q?Zo=C3=AB?= <z@x.test>", "From: \"Ann\" <a@b.test>", "To: a@b.test, c@d.test",
    "To: =?utf-8?b?SsO8cmdlbg==?= <j@x.test>,\n =?iso-8859-1?q?Ren=E9e?= <r@x.test>",
    "Subject: =?utf-8?q?caf=C3=A9?= menu", "Subject: plain\n\tfolded",
    "Date: Mon, 2 Feb 2026 10:00:00 +0530", "Message-ID: <a.b@c.d>",
    "References: <r1@x> <r2@x>", "In-Reply-To: <r2@x>", "X-Tags: one two", "MIME-Version: 1.0",
], ["Subject: caf\xe9", "Date: yesterday", "Content-Transfer-Encoding: base64", "To: a@",
    "From: (c) <a@b"])


@st.composite
def almost_valid(draw: st.DrawFn) -> bytes:
    boundary = draw(BOUNDARIES)
    quoted = boundary if draw(st.booleans()) and boundary.isalnum() else f'"{boundary}"'
    lines = draw(st.lists(TOP_HEADERS, max_size=6))
    if draw(st.integers(0, 9)) == 0:
        lines.insert(0, "From a@b.test Mon Jan  1 00:00:00 2024")
    subtype = draw(mostly(["mixed", "alternative", "related"], ["digest"]))
    lines.append(f"Content-Type: multipart/{subtype}; boundary={quoted}")
    text = "".join(line + "\n" for line in lines) + "\n" + draw(multipart_body(boundary))
    eol = draw(mostly(["\n", "\r\n"], ["mixed"]))
    if eol == "mixed":
        text = "".join(line + draw(st.sampled_from(["\n", "\r\n"]))
                       for line in text.split("\n"))
    else:
        text = text.replace("\n", eol)
    return text.encode("latin-1")


@settings(GENERATED, max_examples=300)
@given(raw=almost_valid())
def test_almost_valid_multiparts(raw: bytes) -> None:
    generated(raw)


@pytest.mark.parametrize("raw", [
    b"From: a@b.test\nContent-Type: multipart/mixed; boundary=b\n\n--b\n\nhi\n--b--\n",
    b"From: a@b.test\r\nContent-Type: multipart/mixed; boundary=\"b\"\r\n\r\n--b\r\n"
    b"Content-Type: multipart/alternative; boundary=c\r\n\r\n--c\r\nContent-Type: text/plain"
    b"\r\n\r\nplain\r\n--c\r\nContent-Type: text/html\r\n\r\n<p>html</p>\r\n--c--\r\n"
    b"--b\r\nContent-Type: application/pdf\r\nContent-Transfer-Encoding: base64\r\n"
    b"Content-Disposition: attachment; filename*=utf-8''%C3%A9.pdf\r\n\r\naGk=\r\n--b--\r\n",
    b"Subject: =?utf-8?q?caf=C3=A9?=\nContent-Type: text/plain; charset=latin-1\n\ncaf\xe9\n",
])
def test_the_fast_path_is_taken_for_plain_shapes(raw: bytes) -> None:
    """Not vacuous: ordinary single parts, nesting and attachments go the fast way."""
    assert check(raw)
