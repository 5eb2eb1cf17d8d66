"""The store's bulk path (`prepare` + `add_prepared`, used by import and add_parsed)
and the folder index."""

from __future__ import annotations

import hashlib
import random
import sqlite3
from pathlib import Path

import zstandard

from mailops.mime import summarize
from mailops.store import Incoming, Store, listing, querysql
from mailops.store.schema import MIGRATIONS
from mailops.store.search import compile_text
from mailops.store.store import ZSTD_LEVEL, Prepared, prepare
from mailops.store.tags import folder_counts


def raw(n: int, *, reply_to: int | None = None, rcpt: str = "b@example.test",
        body: bytes = b"") -> bytes:
    refs = f"In-Reply-To: <m{reply_to}@example.test>\n" if reply_to is not None else ""
    return (f"From: a@example.test\nTo: {rcpt}\nSubject: note {n}\n"
            f"Message-ID: <m{n}@example.test>\n{refs}\nword{n} shared\n").encode() + body


def prepared(data: bytes) -> Prepared:
    return prepare(Incoming(data, source="import"), summarize(data),
                   zstandard.ZstdCompressor(level=ZSTD_LEVEL))


def test_add_prepared_skips_stored_digests_and_keeps_order(tmp_path: Path) -> None:
    with Store(tmp_path / "s.db") as store:
        first = store.add_prepared([prepared(raw(0)), prepared(raw(1))])
        assert first == [1, 2]
        again = store.add_prepared([prepared(raw(1)), prepared(raw(2)), prepared(raw(0))],
                                   skip_stored=True)
        assert again == [None, 3, None]
        assert store.count() == 3
        assert [r["subject"] for r in store.list("shared", oldest_first=True)] == [
            "note 0", "note 1", "note 2"]
        row = store.get(3)
        assert row["sha256"] == hashlib.sha256(raw(2)).hexdigest() and row["indexed"]
        # Without skip_stored the same bytes are stored again (the daemon's contract).
        assert store.add_prepared([prepared(raw(2))]) == [4]


def test_one_batch_threads_and_tags_like_one_at_a_time(tmp_path: Path) -> None:
    chain = [raw(0), raw(1, reply_to=0), raw(2, reply_to=1, rcpt="b+work@example.test"),
             raw(3), raw(4, reply_to=3)]
    with Store(tmp_path / "batch.db") as batch, Store(tmp_path / "single.db") as single:
        batch.add_prepared([prepared(r) for r in chain])
        for r in chain:
            single.add_prepared([prepared(r)])
        for store in (batch, single):
            groups = store.db.execute(
                "SELECT group_concat(id) FROM messages GROUP BY thread_id ORDER BY min(id)")
            assert [g[0] for g in groups] == ["1,2,3", "4,5"]
            assert store.get(3)["tags"] == ["work"]


def test_big_bodies_and_a_stale_index_entry(tmp_path: Path) -> None:
    big = raw(0, body=random.Random(1).randbytes(3 << 20))  # > 1 MB even compressed
    with Store(tmp_path / "s.db") as store:
        # An index entry above the newest message (never written by mailops, but
        # the bulk path must not trust that): it is replaced, not duplicated.
        values = (1, "stale", "", "", "", "stale words", "")
        store.db.execute("INSERT INTO texts VALUES (?, ?, ?, ?, ?, ?, ?)", values)
        store.db.execute("INSERT INTO texts_fts (rowid, subject, sender, recipients, cc,"
                         " body, filename) VALUES (?, ?, ?, ?, ?, ?, ?)", values)
        assert store.add_prepared([prepared(big), prepared(raw(1))]) == [1, 2]
        assert store.raw(1) == big
        assert store.list("stale") == []
        assert [r["id"] for r in store.list("shared", oldest_first=True)] == [1, 2]
        store.db.execute("INSERT INTO texts_fts(texts_fts) VALUES ('integrity-check')")


def _indexes(path: Path) -> set[str]:
    with sqlite3.connect(path) as db:
        return {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'index'")}


def test_folders_match_case_blind_through_the_nocase_index(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    with Store(path) as store:
        store.add_parsed([(Incoming(raw(i)), summarize(raw(i))) for i in range(4)])
        store.db.execute("UPDATE messages SET seen = 1 WHERE id = 1")
        store.db.execute("UPDATE messages SET folder = 'Spam' WHERE id = 4")
        assert folder_counts(store) == [{"folder": "INBOX", "total": 3, "unread": 2},
                                        {"folder": "Spam", "total": 1, "unread": 1}]
        # `folder:` compares case-blind, and the folder index (migration 8) serves that.
        plan = " ".join(str(r[3]) for r in store.db.execute(
            "EXPLAIN QUERY PLAN SELECT count(*) FROM messages m"
            " WHERE m.folder = ? COLLATE NOCASE", ("spam",)))
        assert "COVERING INDEX messages_folder_nocase (folder=?)" in plan
        assert [r["id"] for r in store.search("folder:spam")] == [4]
        assert [r["id"] for r in store.search("folder:inbox")] == [3, 2, 1]
        with querysql.planning(store.db):  # a small folder: driven from the index
            compiled = compile_text("folder:SPAM")
        assert compiled is not None
        plan = " ".join(str(r[3]) for r in store.db.execute(
            f"EXPLAIN QUERY PLAN SELECT m.id FROM messages m WHERE {compiled.where}"
            " ORDER BY coalesce(m.date_ts, m.received_at) DESC LIMIT 50", compiled.params))
        assert "messages_folder_nocase" in plan, plan
        # Unplanned (cursors at a position, thread pages), never the folder index: a
        # sorted page would fetch and sort the whole folder.
        unplanned = compile_text("folder:INBOX")
        assert unplanned is not None and unplanned.where == "+m.folder = ? COLLATE NOCASE"
        assert listing.count(store, "folder:SPAM") == listing.count(store, "folder:spam") == 1
    assert "messages_folder_nocase" in _indexes(path)
    assert "messages_folder_seen" not in _indexes(path)


def test_migration_8_replaces_the_binary_folder_index(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    with Store(path) as store:
        store.add_parsed([(Incoming(raw(i)), summarize(raw(i))) for i in range(3)])
        store.db.execute("UPDATE messages SET folder = 'Work' WHERE id = 2")
    eight = next(i for i, m in enumerate(MIGRATIONS) if "messages_folder_nocase" in m)
    assert eight == 7  # the eighth migration
    with sqlite3.connect(path) as db:  # as a schema-7 store
        db.execute("DROP INDEX messages_folder_nocase")
        db.execute("CREATE INDEX messages_folder_seen ON messages(folder, seen)")
        db.execute(f"PRAGMA user_version = {eight}")
    with Store(path) as store:
        assert store.schema_version() == len(MIGRATIONS)
        assert [r["id"] for r in store.search("folder:WORK")] == [2]
    assert "messages_folder_nocase" in _indexes(path)
    assert "messages_folder_seen" not in _indexes(path)
    # From before the (folder, seen) index (schema 3), every step still applies in turn.
    with sqlite3.connect(path) as db:
        db.execute("DROP INDEX messages_folder_nocase")
        db.execute("CREATE INDEX messages_folder ON messages(folder)")
        before = next(i for i, m in enumerate(MIGRATIONS) if "messages_folder_seen" in m)
        db.execute(f"PRAGMA user_version = {before}")
    with Store(path) as store:
        assert store.schema_version() == len(MIGRATIONS)
    assert not {"messages_folder", "messages_folder_seen"} & _indexes(path)
    assert "messages_folder_nocase" in _indexes(path)
