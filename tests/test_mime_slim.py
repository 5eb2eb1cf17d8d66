"""Parsing a big message with the middle of its base64 runs left out gives the
same summary as parsing it whole.

`mailops.mimeslim._summarize` leaves out the middle lines of long base64 runs
(`_slim`) and keeps the result only when the stdlib parse of what is left
shows the cut could not matter; otherwise it parses the whole message. Here the
thresholds are lowered so that small messages are cut too, and every field of
the summary (part sizes and defects included) must equal the whole parse, for
CPython's email test corpus, mailops' oddities, hand-made edge cases (text parts
in base64, bad characters, padding, CRLF, repeated attachments, runs in a
preamble or a nested message) and generated multiparts.
"""

from __future__ import annotations

import base64
import random

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_mime_fast import FIXED

from mailops.mime import summarize
from mailops.mimeslim import _slim, _summarize, _summarize_parsed


def whole(raw: bytes) -> object:
    return _summarize(raw, slim_from=None)


def check(raw: bytes) -> None:
    """Slim (low thresholds), slim (real thresholds) and cached == whole."""
    expected = whole(raw)
    assert _summarize(raw, slim_from=0, min_cut=4) == expected, raw[:300]
    assert _summarize(raw) == expected
    assert summarize(raw) == expected


def b64_lines(data: bytes, width: int = 76, eol: str = "\n") -> str:
    text = base64.b64encode(data).decode()
    return "".join(text[i:i + width] + eol for i in range(0, len(text), width))


def multipart(*parts: str, eol: str = "\n", preamble: str = "") -> bytes:
    body = "".join(f"--b\n{p}" for p in parts)
    text = (f"From: a@b.test\nTo: c@d.test\nSubject: s\nMIME-Version: 1.0\n"
            f"Content-Type: multipart/mixed; boundary=\"b\"\n\n{preamble}{body}--b--\n")
    return text.replace("\n", eol).encode("latin-1")


def part(ctype: str, payload: str, *, cte: str = "base64", name: str | None = None) -> str:
    """One body part, with LF line ends (`multipart` converts them)."""
    disposition = f"Content-Disposition: attachment; filename=\"{name}\"\n" if name else ""
    return (f"Content-Type: {ctype}\nContent-Transfer-Encoding: {cte}\n{disposition}\n"
            f"{payload}\n")


DATA = random.Random(7).randbytes(6000)
TEXT = "hello\n" * 40
LINES = b64_lines(DATA)
BROKEN = LINES[:2000] + "*" + LINES[2000:]  # a character outside the alphabet
UNPADDED = b64_lines(DATA[:-1]).replace("=", "")  # padding missing at the end

EDGE = {
    "attachment": multipart(part("text/plain", TEXT, cte="7bit"),
                            part("application/pdf", LINES, name="a.pdf")),
    "attachment_crlf": multipart(part("text/plain", TEXT, cte="7bit"),
                                 part("image/png", LINES, name="p.png"), eol="\r\n"),
    "cr_cr_lf": multipart(part("image/png", LINES, name="p.png")).replace(b"\n", b"\r\r\n"),
    "inline_image": multipart(part("text/plain", TEXT, cte="7bit"), part("image/png", LINES)),
    "text_plain_base64": multipart(part("text/plain", b64_lines(TEXT.encode() * 40))),
    "text_html_base64": multipart(part("text/html", b64_lines(b"<p>hi</p>\n" * 400))),
    "bad_character": multipart(part("application/pdf", BROKEN, name="x.pdf")),
    "missing_padding": multipart(part("application/pdf", UNPADDED, name="x.pdf")),
    "padding_inside": multipart(part("application/pdf", LINES[:760] + "AA==\n" + LINES[760:],
                                     name="x.pdf")),
    "same_attachment_twice": multipart(part("application/pdf", LINES, name="a.pdf"),
                                       part("application/pdf", LINES, name="b.pdf")),
    "run_in_preamble": multipart(part("application/pdf", LINES[:400], name="a.pdf"),
                                 preamble=LINES),
    "not_base64": multipart(part("application/octet-stream", LINES, cte="7bit", name="a.bin")),
    "lone_cr": multipart(part("application/pdf", LINES[:1000] + "\r" + LINES[1000:],
                              name="a.pdf")),
    "blank_line": multipart(part("application/pdf", LINES[:1001] + "\n" + LINES[1001:],
                                 name="a.pdf")),
    "width_64": multipart(part("application/pdf", b64_lines(DATA, 64), name="a.pdf")),
    "width_73": multipart(part("application/pdf", b64_lines(DATA, 73), name="a.pdf")),
    "nested_message": multipart(
        "Content-Type: message/rfc822\n\n" + multipart(
            part("application/pdf", LINES, name="in.pdf")).decode("latin-1")),
    "not_multipart": ("From: a@b.test\nSubject: s\nContent-Type: application/pdf\n"
                      "Content-Transfer-Encoding: base64\n\n" + LINES).encode(),
    "plain_body_base64_looking": ("From: a@b.test\nSubject: s\n\n" + LINES).encode(),
    "delivery_status": multipart(part("message/delivery-status", LINES, cte="7bit")),
}


def test_the_cut_is_used_where_it_cannot_matter() -> None:
    """Not vacuous: attachments are cut and the cut parse is kept."""
    for name in ("attachment", "attachment_crlf", "inline_image", "width_64", "nested_message",
                 "not_multipart"):
        slim, cuts = _slim(EDGE[name], 1024)
        assert cuts and len(slim) < len(EDGE[name]) / 2, name
        assert _summarize_parsed(slim, cuts) == whole(EDGE[name]), name


def test_the_cut_is_refused_where_it_could_matter() -> None:
    for name in ("text_plain_base64", "text_html_base64", "run_in_preamble", "not_base64",
                 "plain_body_base64_looking", "delivery_status", "bad_character",
                 "missing_padding"):
        slim, cuts = _slim(EDGE[name], 1024)
        if cuts:  # cut, but the parse shows it could change the summary
            assert _summarize_parsed(slim, cuts) is None, name
    assert _slim(EDGE["same_attachment_twice"], 1024)[1] == []  # a gap must be unique


@pytest.mark.parametrize("name", sorted(FIXED) + sorted(EDGE))
def test_fixed_messages(name: str) -> None:
    check({**FIXED, **EDGE}[name])


@st.composite
def messages(draw: st.DrawFn) -> bytes:
    eol = draw(st.sampled_from(["\n", "\r\n"]))
    # One attachment that can be cut, then any parts (which may forbid the cut).
    data = random.Random(draw(st.integers(0, 2**32))).randbytes(draw(st.integers(200, 1500)))
    parts = [part(draw(st.sampled_from(["application/pdf", "image/png"])),
                  b64_lines(data, draw(st.sampled_from([60, 64, 76]))), name="a.pdf")]
    for _ in range(draw(st.integers(0, 2))):
        # Random bytes (not hypothesis' binary, which favours zeros): runs that are
        # long and unique, so most messages are really cut.
        data = random.Random(draw(st.integers(0, 2**32))).randbytes(draw(st.integers(0, 1500)))
        width = draw(st.sampled_from([60, 64, 72, 73, 76, 100]))
        payload = b64_lines(data, width)
        if payload and draw(st.integers(0, 3)) == 0:  # damage: a junk character, a dropped one
            at = draw(st.integers(0, len(payload) - 1))
            junk = draw(st.sampled_from(["", "*", "=", "-", "\r", "\n", " ", "\xe9"]))
            payload = payload[:at] + junk + payload[at + 1:]
        ctype = draw(st.sampled_from(["application/pdf", "text/plain", "text/html",
                                      "image/png", "message/delivery-status"]))
        cte = draw(st.sampled_from(["base64", "base64", "base64", "7bit", "quoted-printable"]))
        name = draw(st.sampled_from([None, "f.pdf"]))
        parts.append(part(ctype, payload, cte=cte, name=name))
    if draw(st.integers(0, 3)) == 0:
        parts.append(parts[0])  # the same part twice
    preamble = LINES[:800] if draw(st.integers(0, 3)) == 0 else ""
    return multipart(*parts, eol=eol, preamble=preamble)


@settings(max_examples=150, deadline=None, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(raw=messages())
def test_generated_multiparts(raw: bytes) -> None:
    check(raw)
