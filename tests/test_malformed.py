"""Broken mail must never crash parsing, storing or showing, and its bytes must survive.

Hypothesis generates raw bytes and deliberately broken MIME (NULs, 8-bit junk,
unknown charsets, truncated multiparts, missing headers, overlong lines, bad
base64 / quoted-printable, bad dates, broken encoded-words). Every example goes
through `summarize`, `Store.add_parsed` / `Store.raw` and the `show` views at
unit level; a few go through the real CLI. Real-world oddities come from
CPython's own email test corpus when the interpreter ships it, always together
with a fixed set of our own.
"""

from __future__ import annotations

import glob
import hashlib
import json
import os
import re
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import Cli
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mailops import view
from mailops.errors import NotFoundError
from mailops.mime import Parsed, parse_message, summarize
from mailops.store import Incoming, Store

# -- strategies -------------------------------------------------------------------

LINE_ENDINGS = st.sampled_from([b"\n", b"\r\n", b"\r", b"\n\r"])
HEADER_NAMES = st.sampled_from([
    b"From", b"To", b"Cc", b"Bcc", b"Reply-To", b"Sender", b"Subject", b"Date",
    b"Message-ID", b"MIME-Version", b"Content-Type", b"Content-Transfer-Encoding",
    b"Content-Disposition", b"Received", b"X-Junk", b"FROM", b"content-type",
])
BAD_CHARSETS = st.sampled_from([
    b"x-unknown", b"utf-8", b"us-ascii", b"iso-8859-1", b"", b"\"", b"hex", b"rot13",
    b"idna", b"utf-7", b"\x00", b"utf\xff8", b"\"utf-8", b"base64", b"punycode",
    b"x-unknown''%41", b"utf-8''%ff%fe", b"''", b"a\x00b''x", b"unicode-1-1-utf-7",
])
ODD_VALUES = st.sampled_from([
    b"", b" ", b"\t", b"<>", b"\"", b"\\", b"(", b"(((((", b"a@", b"@b", b"<a@b", b"a@b,,,,",
    b"undisclosed-recipients:;", b"group: a@b, c@d;", b"\"unterminated <a@b>",
    b"\"\\\x80\" <a@b>", b"caf\xe9 <caf\xe9@ex\xe4mple.test>", b"<\x80@\x81>",
    b"Mon, 99 Foo 99999 99:99:99 +9999", b"Tue, 31 Feb 2023 25:61:61 -2500", b"yesterday",
    b"Thu, 01 Jan 1970 00:00:00 +0000", b"Sat, 1 Jan 10000 00:00:00 +0000", b"0",
    b"=?utf-8?q?broken", b"=?x-unknown?b?AAAA?=", b"=?utf-8?b?!!!?=", b"=?utf-8?q?=E2=82?=",
    b"=?", b"=??=", b"=?utf-8??=", b"=?utf-8?x?abc?=", b"=?utf-8*fr?q?a?=", b"=?hex?q?41?=",
    b"text/plain; charset=x-unknown", b"multipart/mixed; boundary=",
    b"multipart/mixed", b"text/html; charset=\"utf-8", b"message/rfc822", b"/", b"text/",
    b"attachment; filename=\"../../evil\"", b"attachment; filename*",
    b"attachment; filename*=utf-8''%ff%fe", b"attachment; filename*=x-unknown'en'%41",
    b"text/plain; charset*", b"text/plain; charset*=''", b"text/plain; name*0*=utf-8''a; name*1=b",
    b"base64", b"quoted-printable", b"x-uuencode", b"7bit", b"8bit", b"binary", b"bogus",
])
HEADER_VALUES = st.one_of(
    ODD_VALUES,
    st.binary(max_size=60),  # NULs, 8-bit junk, stray CR/LF
    st.text(max_size=40).map(lambda s: s.encode("utf-8", "surrogatepass")),
    st.builds(lambda c, e, p: b"=?" + c + b"?" + e + b"?" + p + b"?=",
              BAD_CHARSETS, st.sampled_from([b"q", b"b", b"Q", b"B", b"x", b""]),
              st.binary(max_size=20)),
    st.integers(900, 6000).map(lambda n: b"x" * n),  # overlong header line
    st.integers(100, 400).map(lambda n: b"a@b.test, " * n),  # long folded list
)
CONTENT_TYPES = st.one_of(
    st.sampled_from([b"text/plain", b"text/html", b"application/octet-stream",
                     b"message/rfc822", b"image/png", b"multipart/alternative", b"junk"]),
    st.builds(lambda t, c: t + b"; charset=" + c,
              st.sampled_from([b"text/plain", b"text/html"]), BAD_CHARSETS),
    st.builds(lambda t, c: t + b"; charset*=" + c,
              st.sampled_from([b"text/plain", b"text/html"]), BAD_CHARSETS),
)
ENCODINGS = st.sampled_from([b"base64", b"quoted-printable", b"8bit", b"7bit", b"binary",
                             b"x-uuencode", b"bogus", b"BASE64", b""])
BAD_PAYLOADS = st.one_of(
    st.binary(max_size=300),
    st.text(alphabet="ABCDEFabcdef0123456789+/=!-_ \n", max_size=200).map(str.encode),
    st.sampled_from([b"=", b"=Z", b"=ZZ", b"=\n", b"=4", b"abc=\r\n=", b"====", b"A===",
                     b"begin 644 x\nM\n", b"begin 644 x\n!!!!\nend\n", b"<html><script>",
                     b"<a href='x'>y", b"<p>caf\xe9 <b>\x00", b"--", b"\x00" * 10]),
)


@st.composite
def header_block(draw: st.DrawFn) -> bytes:
    """Zero or more headers, some broken, any line endings, maybe no separator."""
    lines = []
    for _ in range(draw(st.integers(0, 8))):
        name = draw(st.one_of(HEADER_NAMES, st.binary(min_size=1, max_size=8)))
        sep = draw(st.sampled_from([b": ", b":", b" : ", b""]))
        lines.append(name + sep + draw(HEADER_VALUES) + draw(LINE_ENDINGS))
        if draw(st.booleans()) and draw(st.booleans()):
            lines.append(b" \t" + draw(HEADER_VALUES) + draw(LINE_ENDINGS))  # folding
    return b"".join(lines)


@st.composite
def mime_part(draw: st.DrawFn, depth: int = 0) -> bytes:
    """One MIME part: headers with odd types/encodings/names, then a broken body."""
    eol = draw(LINE_ENDINGS)
    head = b"Content-Type: " + draw(CONTENT_TYPES) + eol
    if draw(st.booleans()):
        head += b"Content-Transfer-Encoding: " + draw(ENCODINGS) + eol
    if draw(st.booleans()):
        head += b"Content-Disposition: " + draw(st.one_of(ODD_VALUES, st.builds(
            lambda n: b"attachment; filename=\"" + n + b"\"", st.binary(max_size=300)))) + eol
    if depth < 2 and draw(st.integers(0, 4)) == 0:
        return head + draw(multipart_body(depth + 1))
    return head + eol + draw(BAD_PAYLOADS)


@st.composite
def multipart_body(draw: st.DrawFn, depth: int = 0) -> bytes:
    """A multipart (headers included), with truncation and boundary damage."""
    eol = draw(LINE_ENDINGS)
    boundary = draw(st.sampled_from([b"b", b"=_b", b"", b"x" * 80, b"a b", b"\xff"]))
    out = b"Content-Type: multipart/" + draw(st.sampled_from(
        [b"mixed", b"alternative", b"related", b"digest", b"junk"]))
    out += b"; boundary=\"" + boundary + b"\"" + eol + eol + draw(BAD_PAYLOADS) + eol
    for _ in range(draw(st.integers(0, 4))):
        out += b"--" + boundary + eol + draw(mime_part(depth)) + eol
    if draw(st.booleans()):
        out += b"--" + boundary + b"--" + eol + draw(BAD_PAYLOADS)
    if draw(st.booleans()):  # truncated anywhere, boundaries included
        out = out[: draw(st.integers(0, len(out)))]
    return out


@st.composite
def broken_message(draw: st.DrawFn) -> bytes:
    """A message built from broken pieces."""
    eol = draw(LINE_ENDINGS)
    head = draw(header_block())
    shape = draw(st.integers(0, 3))
    if shape == 0:
        return head + eol + draw(BAD_PAYLOADS)
    if shape == 1:
        return head + draw(mime_part())
    if shape == 2:
        return head + b"MIME-Version: 1.0" + eol + draw(multipart_body())
    return head + draw(BAD_PAYLOADS)  # no header/body separator at all


ANY_MESSAGE = st.one_of(st.binary(max_size=2000), broken_message())

# -- properties -------------------------------------------------------------------

ROW = {"id": 1, "mail_from": None, "rcpt_to": [], "peer": None, "source": "test", "size": 0,
       "sha256": "", "folder": "INBOX", "tags": [], "read": False, "flagged": False,
       "replied": False}


def check_views(raw: bytes, parsed: Parsed) -> None:
    """Every `show` view works and yields printable, encodable output."""
    rendered = view.readable(ROW, raw)
    # `show --json` and the human view write UTF-8: no lone surrogates allowed.
    json.dumps(rendered, ensure_ascii=False).encode("utf-8")
    for text in [rendered["text"], *rendered["headers"].values(), *rendered["links"]]:
        assert not CONTROLS.search(text), repr(text)
    assert raw.startswith(view.header_block(raw))
    for number in range(1, len(parsed.parts) + 1):
        assert isinstance(view.part_content(raw, number), bytes)
    with pytest.raises(NotFoundError):
        view.part_content(raw, len(parsed.parts) + 1)
    try:
        view.html_part(raw).encode("utf-8")
    except NotFoundError:
        assert not parsed.has_html
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "att"
        saved = view.save_attachments(raw, out)
        assert len(saved) == len(parsed.attachments)
        for path in saved:
            assert path.parent == out and path.is_file()
        assert sorted(os.listdir(tmp)) == ["att"]  # nothing escaped the directory


# What may never reach a terminal from a message: NUL, ESC and other C0/C1 controls.
CONTROLS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")


def check_parsed(parsed: Parsed) -> None:
    strings = [parsed.subject, parsed.from_, parsed.text, *parsed.to, *parsed.cc, *parsed.bcc,
               *parsed.attachments, *parsed.defects, parsed.message_id or "",
               *(p.filename or "" for p in parsed.parts), *(p.content_type for p in parsed.parts)]
    for s in strings:
        s.encode("utf-8")  # storable in SQLite, printable as UTF-8
        assert not CONTROLS.search(s), repr(s)


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    s = Store(tmp_path_factory.mktemp("malformed") / "store.db")
    yield s
    s.close()


def roundtrip(store: Store, raw: bytes) -> Parsed:
    parsed = summarize(raw)
    check_parsed(parsed)
    [msg_id] = store.add_parsed([(Incoming(raw=raw, source="import"), parsed)])
    assert store.raw(msg_id) == raw
    row = store.get(msg_id)
    assert row["sha256"] == hashlib.sha256(raw).hexdigest() and row["size"] == len(raw)
    json.dumps(row, ensure_ascii=False).encode("utf-8")
    return parsed


FAST = settings(max_examples=300, deadline=None, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


@FAST
@given(raw=st.binary(max_size=3000))
def test_random_bytes_parse_store_and_show(store: Store, raw: bytes) -> None:
    check_views(raw, roundtrip(store, raw))


@FAST
@given(raw=broken_message())
def test_broken_mime_parse_store_and_show(store: Store, raw: bytes) -> None:
    check_views(raw, roundtrip(store, raw))


@settings(max_examples=50, deadline=None, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(raws=st.lists(ANY_MESSAGE, min_size=1, max_size=10))
def test_store_batches_keep_every_message_exactly(store: Store, raws: list[bytes]) -> None:
    ids = store.add_parsed([(Incoming(raw=r, source="import"), summarize(r)) for r in raws])
    assert [store.raw(i) for i in ids] == raws
    digests = {hashlib.sha256(r).hexdigest() for r in raws}
    assert store.existing_sha256(digests) == digests


# -- fixed oddities and regressions -------------------------------------------------

# Each of these crashed (or lost every header of) a parser or view before the fix
# noted beside it.
REGRESSIONS = {
    # CPython's parameter parser raises IndexError on "filename*" without a value;
    # the feed parser reads Content-Type while parsing, so the whole message was
    # unparseable (mime.py: tolerant header factory).
    "disposition_star": b"From: a@example.test\nSubject: kept\n"
                        b"Content-Disposition: attachment; filename*\n\nbody\n",
    "content_type_star": b"From: a@example.test\nSubject: kept\n"
                         b"Content-Type: text/plain; charset*\n\nbody\n",
    "boundary_star": b"Subject: kept\nContent-Type: multipart/mixed; boundary*\n\n--x\n",
    # formataddr() raises UnicodeEncodeError on an 8-bit address (mime.py).
    "eight_bit_address": b"Subject: kept\nTo: caf\xe9 <caf\xe9@ex\xe4mple.test>\n"
                         b"Cc: \"\\\x80\" <a@b>\n\nbody\n",
    # html_part decoded with a charset holding a NUL: ValueError (view.py).
    "html_nul_charset": b"Subject: kept\nContent-Type: text/html; charset*=\"a\x00b''x\"\n\n"
                        b"<p>hi <a href='https://example.test/'>x</a>\n",
    "html_hex_charset": b"Subject: kept\nContent-Type: text/html; charset=hex\n\n<p>hi</p>\n",
    # Terminal escapes in a subject, body or HTML character reference reached the
    # terminal of `ls` / `show` (mime.py clean(), view.py links).
    "terminal_escapes": b"Subject: kept\nFrom: \x1b]0;title\x07 <a@b>\nContent-Type: text/html\n\n"
                        b"<p>\x1b[2J&#27;[31mred <a href='x&#x1b;[0m'>l</a>\x9b</p>\n",
    # An attachment name longer than the file system allows: OSError on save (view.py).
    "long_filename": b"Subject: kept\nContent-Type: application/octet-stream\n"
                     b"Content-Disposition: attachment; filename=\"" + b"n" * 400 + b".pdf\"\n\n"
                     b"data\n",
}

OWN_ODDITIES = {
    **REGRESSIONS,
    "nul_everywhere": b"Subject: a\x00b\nFrom: \x00\n\n\x00body\x00\n",
    "eight_bit_junk": b"Subject: \xff\xfe\x80\nFrom: \xe9@\xe9\n\n\xff\xfe body\n",
    "unknown_charset": b"Subject: x\nContent-Type: text/plain; charset=x-unknown\n"
                       b"Content-Transfer-Encoding: 8bit\n\ncaf\xe9\n",
    "truncated_boundary": b"Subject: x\nContent-Type: multipart/mixed; boundary=\"b\"\n\n"
                          b"--b\nContent-Type: text/plain\n\none\n--b\nContent-Type: text/ht",
    "no_headers": b"\njust a body\n",
    "no_separator": b"Subject: only headers",
    "overlong_header": b"Subject: " + b"x" * 20000 + b"\n\nbody\n",
    "bad_base64": b"Subject: x\nContent-Type: text/plain\nContent-Transfer-Encoding: base64\n\n"
                  b"!!!not base64 at all===\nQUJD\n=\n",
    "bad_qp": b"Subject: x\nContent-Transfer-Encoding: quoted-printable\n\n=ZZ =4 =\n=\n",
    "bad_date": b"Subject: x\nDate: Mon, 99 Foo 99999 99:99:99 +9999\n\nbody\n",
    "far_date": b"Subject: x\nDate: Sat, 1 Jan 10000 00:00:00 +0000\n\nbody\n",
    "broken_encoded_words": b"Subject: =?utf-8?q?=E2=82?= =?x-unknown?b?AAAA?= =?utf-8?b?!!!?=\n"
                            b"From: =?utf-8?q?broken <a@b>\n\nbody\n",
    "cr_only": b"Subject: x\rFrom: a@b\r\rbody\r",
    "bad_uuencode": b"Subject: x\nContent-Transfer-Encoding: x-uuencode\n\nbegin 644 f\n!!!\n",
    "nested_rfc822": b"Subject: x\nContent-Type: message/rfc822\n\nSubject: inner\n"
                     b"Content-Type: multipart/mixed; boundary=q\n\n--q\n",
    "traversal_names": b"Subject: x\nContent-Type: multipart/mixed; boundary=b\n\n"
                       b"--b\nContent-Disposition: attachment; filename=\"../../evil\"\n\nx\n"
                       b"--b\nContent-Disposition: attachment; filename=\"..\"\n\ny\n"
                       b"--b\nContent-Disposition: attachment; filename=\"/abs/path\"\n\nz\n"
                       b"--b\nContent-Disposition: attachment; filename=\"a\\\\..\\\\b\"\n\nw\n"
                       b"--b--\n",
}


def cpython_corpus() -> dict[str, bytes]:
    """CPython's test_email data files, when this interpreter ships them."""
    try:
        import test  # the stdlib's test package; distributions may strip it
    except ImportError:
        return {}
    pattern = os.path.join(os.path.dirname(test.__file__), "test_email", "data", "msg_*.txt")
    return {f"cpython_{Path(p).stem}": Path(p).read_bytes() for p in sorted(glob.glob(pattern))}


CPYTHON = cpython_corpus()
ODDITIES = {**OWN_ODDITIES, **CPYTHON}


def test_corpus_is_not_empty() -> None:
    # Our own oddities always run; CPython's corpus adds ~48 real-world messages.
    assert len(OWN_ODDITIES) >= 20
    assert len(ODDITIES) == len(OWN_ODDITIES) + len(CPYTHON)


@pytest.mark.parametrize("name", sorted(ODDITIES))
def test_oddities_parse_store_and_show(store: Store, name: str) -> None:
    raw = ODDITIES[name]
    check_views(raw, roundtrip(store, raw))


@pytest.mark.parametrize("name", sorted(REGRESSIONS))
def test_regressions_keep_their_headers(name: str) -> None:
    raw = REGRESSIONS[name]
    parse_message(raw)  # used to raise for the *_star cases
    parsed = summarize(raw)
    assert parsed.subject == "kept", parsed
    assert not any(d.startswith("unparseable:") for d in parsed.defects)


def test_regression_details() -> None:
    parsed = summarize(REGRESSIONS["disposition_star"])
    assert parsed.from_ == "a@example.test" and parsed.attachments == ["part1"]
    assert "part 1 Content-Disposition: unparseable, kept as text" in parsed.defects
    assert view.part_content(REGRESSIONS["disposition_star"], 1) == b"body\n"
    assert "mple.test>" in " ".join(summarize(REGRESSIONS["eight_bit_address"]).to)
    assert "<p>hi" in view.html_part(REGRESSIONS["html_nul_charset"])
    with tempfile.TemporaryDirectory() as tmp:
        [saved] = view.save_attachments(REGRESSIONS["long_filename"], Path(tmp))
        assert saved.parent == Path(tmp) and saved.suffix == ".pdf"
        assert saved.read_bytes() == b"data\n"


# -- through the real CLI ------------------------------------------------------------

def cli_roundtrip(home: Path, messages: dict[str, bytes], show_names: list[str]) -> None:
    """Import files, then ls/show/show --raw/export must work and keep the bytes."""
    cli = Cli(home)
    src = home.parent / "src"
    src.mkdir()
    for name, raw in messages.items():
        (src / f"{name}.eml").write_bytes(raw)
    res = cli.ok("import", str(src), "--json")
    assert "Traceback" not in res.err
    summary = res.json()
    unique = {hashlib.sha256(r).hexdigest() for r in messages.values()}
    assert summary["failed"] == 0, summary["failures"]
    assert summary["imported"] == len(unique)
    rows = cli.ok("ls", "--json", "--limit", "1000").json()
    ids = {r["sha256"]: r["id"] for r in rows}
    assert set(ids) == unique
    for name in show_names:
        raw = messages[name]
        msg_id = str(ids[hashlib.sha256(raw).hexdigest()])
        assert cli.ok("show", msg_id, "--raw").stdout_bytes == raw, name
        shown = cli.ok("show", msg_id)
        assert "Traceback" not in shown.err, name
        assert b"\x1b" not in shown.stdout_bytes, name  # NO_COLOR: any ESC came from the mail
    out = home.parent / "export"
    cli.ok("export", "--to", str(out))
    for digest, msg_id in ids.items():
        assert hashlib.sha256((out / f"{msg_id}.eml").read_bytes()).hexdigest() == digest


# A file starting with "From " is read as an mbox (its bytes change), an empty
# one is refused: the CLI property is about single messages.
CLI_MESSAGE = ANY_MESSAGE.filter(lambda b: b.strip() and not b.startswith(b"From "))


@settings(max_examples=2, deadline=None, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(raws=st.lists(CLI_MESSAGE, min_size=10, max_size=12, unique=True))
def test_generated_mail_through_the_cli(raws: list[bytes]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp) / "home"
        home.mkdir()
        messages = {f"{i:03d}": raw for i, raw in enumerate(raws)}
        # `show` the largest (most structure); export checks every message's bytes.
        cli_roundtrip(home, messages, [max(messages, key=lambda n: len(messages[n]))])


def test_oddities_through_the_cli(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    singles = {n: r for n, r in ODDITIES.items() if not r.startswith(b"From ")}
    cli_roundtrip(home, singles, ["disposition_star", "terminal_escapes"])
    # CPython's mbox-style messages start with a "From " line: imported as mboxes.
    mboxes = {n: r for n, r in ODDITIES.items() if r.startswith(b"From ")}
    if mboxes:
        src = tmp_path / "mboxes"
        src.mkdir()
        for name, raw in mboxes.items():
            (src / name).write_bytes(raw)
        summary = Cli(home).ok("import", str(src), "--json").json()
        assert summary["failed"] == 0 and summary["imported"] >= len(mboxes)


def test_regression_control_characters_in_a_broken_content_type() -> None:
    """Found by hypothesis in CI: the stdlib hands back the raw header text."""
    parsed = summarize(b"From: \nContent-Type: multipart/mixed\n \t\x00\n\n")
    check_parsed(parsed)
