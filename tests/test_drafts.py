"""Drafts and sent copies kept in the store (mailops.drafts)."""

from __future__ import annotations

from pathlib import Path

import pytest

from mailops import drafts
from mailops.compose import Draft, build_message
from mailops.exporter import export
from mailops.store import Incoming, Store
from mailops.store.tags import folder_counts


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return Store(tmp_path / "m.db")


def a_draft(tmp_path: Path) -> Draft:
    report = tmp_path / "report.csv"
    report.write_text("q,amount\n2,41\n")
    return Draft(sender="Me <me@example.test>", to=["Alice <alice@example.test>"],
                 bcc=["audit@example.test"], subject="Numbers", body="Draft text\n",
                 attachments=[report],
                 headers=["In-Reply-To: <q2@example.test>", "References: <q2@example.test>"])


def test_save_load_round_trip(store: Store, tmp_path: Path) -> None:
    msg_id = drafts.save(store, a_draft(tmp_path))
    row = store.get(msg_id)
    assert row["folder"] == "drafts" and "draft" in row["flags"] and row["read"]
    assert drafts.is_draft(row)
    loaded = drafts.load(store, msg_id, tmp_path / "att")
    assert loaded.sender == "Me <me@example.test>"
    assert loaded.to == ["Alice <alice@example.test>"]
    assert loaded.bcc == ["audit@example.test"]  # kept in the draft, dropped when sent
    assert loaded.subject == "Numbers" and loaded.body == "Draft text\n"
    assert loaded.headers == ["In-Reply-To: <q2@example.test>",
                              "References: <q2@example.test>"]
    assert [p.read_text() for p in loaded.attachments] == ["q,amount\n2,41\n"]
    assert loaded.attachments[0].parent == tmp_path / "att"


def test_a_draft_may_lack_recipients_and_subject(store: Store, tmp_path: Path) -> None:
    msg_id = drafts.save(store, Draft(sender="me@example.test", body="just an idea"))
    loaded = drafts.load(store, msg_id, tmp_path / "att")
    assert loaded.to == [] and loaded.subject is None and loaded.attachments == []
    assert loaded.body == "just an idea\n"


def test_update_replaces_the_stored_copy(store: Store, tmp_path: Path) -> None:
    first = drafts.save(store, a_draft(tmp_path))
    changed = a_draft(tmp_path)
    changed.body = "Second version\n"
    second = drafts.save(store, changed, replaces=first)
    assert not store.has_id(first)
    assert [r["id"] for r in drafts.list_drafts(store)] == [second]
    assert drafts.load(store, second, tmp_path / "att").body == "Second version\n"
    assert {f["folder"]: f["total"] for f in folder_counts(store)} == {"INBOX": 0, "drafts": 1}


def test_drafts_survive_reopening_and_are_searchable(tmp_path: Path) -> None:
    with Store(tmp_path / "m.db") as store:
        drafts.save(store, a_draft(tmp_path))
    with Store(tmp_path / "m.db") as store:
        (row,) = drafts.list_drafts(store)
        assert row["subject"] == "Numbers"
        assert [r["id"] for r in store.list("folder:drafts subject:numbers")] == [row["id"]]


def test_sent_copy_replaces_the_draft(store: Store, tmp_path: Path) -> None:
    draft = a_draft(tmp_path)
    draft_id = drafts.save(store, draft)
    out = build_message(draft)
    sent_id = drafts.record_sent(store, out, draft_id)
    assert drafts.list_drafts(store) == []
    row = store.get(sent_id)
    assert row["folder"] == "sent" and row["read"] and not drafts.is_draft(row)
    assert store.raw(sent_id) == out.raw
    assert row["rcpt_to"] == ["alice@example.test", "audit@example.test"]
    assert b"Bcc" not in out.raw


def test_existing_folder_spelling_is_reused(store: Store, tmp_path: Path) -> None:
    from mailops.store.tags import move

    (imported,) = store.add_raw([Incoming(raw=b"Subject: old draft\r\n\r\nx\r\n")])
    move(store, [imported], "Drafts")  # an imported mailbox's spelling
    msg_id = drafts.save(store, Draft(sender="me@example.test", body="x"))
    assert store.get(msg_id)["folder"] == "Drafts"
    assert len(drafts.list_drafts(store)) == 2


def test_delete_and_maildir_draft_flag(store: Store, tmp_path: Path) -> None:
    keep = drafts.save(store, a_draft(tmp_path))
    gone = drafts.save(store, Draft(sender="me@example.test", body="discard me"))
    assert drafts.delete(store, gone) and not drafts.delete(store, gone)
    export(store, tmp_path / "md", "maildir", query="folder:drafts")
    (name,) = [p.name for p in (tmp_path / "md" / "cur").iterdir()]
    assert name.endswith(":2,DS")
    assert store.has_id(keep)


def test_a_reply_finished_from_a_draft_marks_the_original_replied(store: Store,
                                                                 tmp_path: Path) -> None:
    """The reply is saved as a draft, reopened in a later session (nothing remembers
    which message it answers but its In-Reply-To), then sent."""
    from mailops import reply

    (orig,) = store.add_raw([Incoming(raw=b"From: Bob <bob@example.test>\r\n"
                                          b"To: me@example.test\r\nSubject: plans\r\n"
                                          b'Message-ID: <plans.1@example.test>\r\n\r\nhi\r\n')])
    store.index_pending(10)  # as the daemon's indexer would: the Message-ID column
    answer = reply.reply(store.get(orig), store.raw(orig), "me@example.test")
    draft_id = drafts.save(store, answer)
    reopened = drafts.load(store, draft_id, tmp_path / "att")
    assert not store.get(orig)["replied"]
    drafts.record_sent(store, build_message(reopened), draft_id)
    assert store.get(orig)["replied"]
