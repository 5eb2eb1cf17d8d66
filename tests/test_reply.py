"""Replies and forwards of stored messages (mailops.reply), built from real messages."""

from __future__ import annotations

from email.message import EmailMessage
from pathlib import Path

import pytest

from mailops.compose import build_message
from mailops.mime import parse_message, summarize
from mailops.reply import forward, forward_subject, quote, reply, reply_subject
from mailops.store import Incoming, Store

ME = "Me Myself <me@example.test>"


def original(**headers: str) -> EmailMessage:
    m = EmailMessage()
    m["From"] = "Alice Example <alice@example.test>"
    m["To"] = "me@example.test, Bob <bob@example.test>"
    m["Cc"] = "Carol <carol@example.test>, ME@example.test"
    m["Subject"] = "Quarterly numbers"
    m["Date"] = "Tue, 02 Jun 2026 09:30:00 +0000"
    m["Message-ID"] = "<q2@example.test>"
    for name, value in headers.items():
        del m[name.replace("_", "-")]
        m[name.replace("_", "-")] = value
    m.set_content("Numbers attached.\n> an older quote\n\nThanks\n")
    return m


def stored(store: Store, msg: EmailMessage) -> tuple[dict[str, object], bytes]:
    raw = msg.as_bytes()
    (msg_id,) = store.add_raw([Incoming(raw=raw)])
    while store.index_pending():
        continue
    return store.get(msg_id), store.raw(msg_id)


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return Store(tmp_path / "m.db")


@pytest.mark.parametrize(("subject", "want"), [
    ("hello", "Re: hello"), ("Re: hello", "Re: hello"), ("RE: re: Re[2]: hello", "Re: hello"),
    ("Fwd: hello", "Re: Fwd: hello"), ("", "Re: ")])
def test_reply_subject_never_stacks(subject: str, want: str) -> None:
    assert reply_subject(subject) == want


def test_forward_subject_never_stacks() -> None:
    assert forward_subject("Fwd: FW: plan") == "Fwd: plan"
    assert forward_subject("Re: plan") == "Fwd: Re: plan"


def test_quote_prefixes_each_line() -> None:
    assert quote("a\n> b\n\nc\n") == "> a\n>> b\n>\n> c\n"


def test_reply_threads_and_quotes(store: Store) -> None:
    row, raw = stored(store, original(References="<q0@example.test> <q1@example.test>"))
    draft = reply(row, raw, ME)
    assert draft.to == ["Alice Example <alice@example.test>"]
    assert draft.cc == []
    assert draft.subject == "Re: Quarterly numbers"
    assert draft.headers == ["In-Reply-To: <q2@example.test>",
                             "References: <q0@example.test> <q1@example.test> <q2@example.test>"]
    assert draft.body.startswith("\n\nOn Tue, 02 Jun 2026 at 09:30 +0000, Alice Example wrote:\n")
    assert "> Numbers attached.\n>> an older quote\n>\n> Thanks\n" in draft.body
    # The built message carries the threading headers, and the store threads it.
    out = build_message(draft)
    parsed = summarize(out.raw)
    assert parsed.in_reply_to == "q2@example.test"
    assert parsed.references == ["q0@example.test", "q1@example.test", "q2@example.test"]


def test_references_from_a_single_in_reply_to(store: Store) -> None:
    row, raw = stored(store, original(In_Reply_To="<q1@example.test>"))
    assert reply(row, raw, ME).headers[1] == \
        "References: <q1@example.test> <q2@example.test>"


def test_no_message_id_no_threading_headers(store: Store) -> None:
    msg = original()
    del msg["Message-ID"]
    row, raw = stored(store, msg)
    assert reply(row, raw, ME).headers == []


def test_reply_all_drops_me_and_duplicates(store: Store) -> None:
    row, raw = stored(store, original(Cc="Carol <carol@example.test>, ME@example.test, "
                                         "bob@EXAMPLE.test, alice@example.test"))
    draft = reply(row, raw, ME, to_all=True)
    assert draft.to == ["Alice Example <alice@example.test>"]
    assert draft.cc == ["Bob <bob@example.test>", "Carol <carol@example.test>"]
    out = build_message(draft)
    assert sorted(out.rcpt_to) == ["alice@example.test", "bob@example.test",
                                   "carol@example.test"]


def test_reply_to_is_honoured(store: Store) -> None:
    row, raw = stored(store, original(Reply_To="List <list@example.test>"))
    assert reply(row, raw, ME).to == ["List <list@example.test>"]
    everyone = reply(row, raw, ME, to_all=True)
    assert everyone.to == ["List <list@example.test>"]
    assert "Alice Example <alice@example.test>" not in everyone.cc


def test_reply_to_my_own_message_goes_to_its_recipients(store: Store) -> None:
    row, raw = stored(store, original(From=ME, To="dave@example.test"))
    assert reply(row, raw, ME).to == ["dave@example.test"]


def test_html_only_message_is_quoted_as_text(store: Store) -> None:
    msg = original()
    msg.set_content("<p>Hello <b>there</b></p>", subtype="html")
    row, raw = stored(store, msg)
    body = reply(row, raw, ME).body
    assert "> Hello there" in body and "<p>" not in body


def test_forward_inline_with_attachments(store: Store, tmp_path: Path) -> None:
    msg = original()
    msg.add_attachment(b"%PDF-1.4 numbers\n", maintype="application", subtype="pdf",
                       filename="q2.pdf")
    row, raw = stored(store, msg)
    draft = forward(row, raw, ME, tmp_path / "att")
    assert draft.subject == "Fwd: Quarterly numbers"
    assert draft.to == [] and draft.headers == []
    assert "---------- Forwarded message ----------\nFrom: Alice Example " \
        "<alice@example.test>\nDate: Tue, 02 Jun 2026 09:30:00 +0000\n" in draft.body
    assert "Numbers attached." in draft.body
    assert [p.name for p in draft.attachments] == ["q2.pdf"]
    draft.to = ["erin@example.test"]
    sent = parse_message(build_message(draft).raw)
    parts = [p for p in sent.iter_attachments()]
    assert [(p.get_filename(), p.get_content()) for p in parts] == \
        [("q2.pdf", b"%PDF-1.4 numbers\n")]
