"""The store on its own: byte-for-byte raw, deferred indexing, search, delete, readers."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from mailops.errors import NotFoundError, StoreError
from mailops.mime import summarize
from mailops.store import Incoming, Store
from mailops.store.schema import MIGRATIONS

RAW = (b"From: Zo\xc3\xab <zoe@example.test>\r\nTo: a@example.test, B <b@example.test>\r\n"
       b"Subject: =?utf-8?q?Caf=C3=A9_menu?=\r\nDate: Tue, 3 Mar 2026 10:00:00 +0100\r\n"
       b"Message-ID: <menu@example.test>\r\nContent-Type: text/html; charset=utf-8\r\n\r\n"
       b"<html><body><p>Cr\xc3\xa8me br\xc3\xbbl\xc3\xa9e</p><a href='https://x.test/m'>menu</a>"
       b"<script>evil()</script></body></html>\r\n")


def test_add_raw_then_index(tmp_path: Path) -> None:
    with Store(tmp_path / "s.db") as store:
        [msg_id] = store.add_raw([Incoming(RAW, "zoe@example.test", ["a@example.test"])])
        assert store.pending_count() == 1
        assert store.raw(msg_id) == RAW
        assert store.list("creme") == []  # not indexed yet
        assert store.index_pending() == 1
        assert store.index_pending() == 0
        row = store.get(msg_id)
        assert row["subject"] == "Café menu"
        assert row["from"] == "Zoë <zoe@example.test>"
        assert row["to"] == ["a@example.test", "B <b@example.test>"]
        assert row["date"] == "2026-03-03T09:00:00+00:00"
        # diacritics and case fold both ways; HTML reduced, scripts dropped
        assert [r["id"] for r in store.list("CREME brulee")] == [msg_id]
        assert [r["id"] for r in store.list("café")] == [msg_id]
        assert store.list("evil") == []
        assert [r["id"] for r in store.list("men*")] == [msg_id]


def test_index_is_idempotent_across_two_indexers(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    with Store(path) as a, Store(path) as b:
        a.add_raw([Incoming(RAW) for _ in range(5)])
        assert a.index_pending() + b.index_pending() == 5
        assert len(a.list("menu", limit=10)) == 5


def test_delete_removes_from_index(tmp_path: Path) -> None:
    with Store(tmp_path / "s.db") as store:
        ids = store.add_parsed([(Incoming(RAW, source="import"), summarize(RAW))] * 3)
        assert store.delete([ids[0], 999]) == 1
        assert sorted(r["id"] for r in store.list("menu")) == ids[1:]
        with pytest.raises(NotFoundError):
            store.get(ids[0])
        with pytest.raises(NotFoundError):
            store.raw(ids[0])


def test_keyset_pages(tmp_path: Path) -> None:
    with Store(tmp_path / "s.db") as store:
        store.add_parsed([(Incoming(RAW), summarize(RAW))] * 25)
        first = store.list(limit=10)
        second = store.list(limit=10, before_id=first[-1]["id"])
        assert [r["id"] for r in first] == list(range(25, 15, -1))
        assert [r["id"] for r in second] == list(range(15, 5, -1))
        assert list(store.iter_ids()) == list(range(1, 26))


def test_reader_sees_writer_and_readonly_refuses_missing(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    with pytest.raises(StoreError, match="no mail store"):
        Store(path, readonly=True)
    with Store(path) as writer:
        writer.add_parsed([(Incoming(RAW), summarize(RAW))])
        with Store(path, readonly=True) as reader:
            assert reader.count() == 1
            writer.add_parsed([(Incoming(RAW), summarize(RAW))])
            assert reader.count() == 2


def test_schema_version_and_newer_store_refused(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    with Store(path) as store:
        assert store.schema_version() == len(MIGRATIONS)
    db = sqlite3.connect(path)
    db.execute(f"PRAGMA user_version = {len(MIGRATIONS) + 5}")
    db.commit()
    db.close()
    with pytest.raises(StoreError, match="newer mailops"):
        Store(path)


def test_not_a_database(tmp_path: Path) -> None:
    path = tmp_path / "junk.db"
    path.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(StoreError, match="cannot open mail store"):
        Store(path)


def test_migration_from_schema_1_reindexes(tmp_path: Path) -> None:
    """A store written before the mailbox engine (schema 1) opens, and its mail is
    re-indexed into the per-field columns."""
    path = tmp_path / "old.db"
    db = sqlite3.connect(path)
    db.executescript(MIGRATIONS[0] + "; PRAGMA user_version = 1;")
    import zstandard

    db.execute("INSERT INTO messages (id, received_at, size, sha256, indexed, subject)"
               " VALUES (1, 0, ?, 'x', 1, 'Café menu')", (len(RAW),))
    db.execute("INSERT INTO bodies (id, raw) VALUES (1, ?)",
               (zstandard.ZstdCompressor().compress(RAW),))
    db.commit()
    db.close()
    with Store(path) as store:
        assert store.schema_version() == len(MIGRATIONS)
        assert store.pending_count() == 1
        store.index_pending()
        assert [r["id"] for r in store.list("creme")] == [1]
        assert store.raw(1) == RAW


def test_ls_upgrades_an_old_store_instead_of_failing(home: Path) -> None:
    """After upgrading mailops, the first command a user runs is often `ls`."""
    from conftest import Cli

    db = sqlite3.connect(home / "mailops.db")
    db.executescript(MIGRATIONS[0] + "; PRAGMA user_version = 1;")
    import zstandard

    db.execute("INSERT INTO messages (id, received_at, size, sha256) VALUES (1, 0, ?, 'x')",
               (len(RAW),))
    db.execute("INSERT INTO bodies (id, raw) VALUES (1, ?)",
               (zstandard.ZstdCompressor().compress(RAW),))
    db.commit()
    db.close()
    rows = Cli(home).ok("ls", "--json").json()
    assert [r["subject"] for r in rows] == ["Café menu"]


def _true_counts(store: Store) -> tuple[list[tuple[str, int, int]], list[tuple[str, int, int]]]:
    """Folder and tag counts computed from the rows themselves."""
    folders = [tuple(r) for r in store.db.execute(
        "SELECT folder, count(*), sum(seen = 0) FROM messages GROUP BY folder ORDER BY folder")]
    tagged = [tuple(r) for r in store.db.execute(
        "SELECT t.tag, count(*), sum(m.seen = 0) FROM tags t JOIN messages m ON m.id = t.msg_id"
        " GROUP BY t.tag ORDER BY t.tag")]
    return folders, tagged  # type: ignore[return-value]


def _kept_counts(store: Store) -> tuple[list[tuple[str, int, int]], list[tuple[str, int, int]]]:
    from mailops.store.tags import folder_counts, tag_counts

    folders = sorted((f["folder"], f["total"], f["unread"]) for f in folder_counts(store)
                     if f["total"])
    return folders, [(t["tag"], t["count"], t["unread"]) for t in tag_counts(store)]


def test_folder_and_tag_counts_follow_every_write(tmp_path: Path) -> None:
    """The trigger-kept counts (schema 7) equal a recount after each kind of write,
    and a store upgraded from schema 6 starts with correct counts."""
    import random

    from mailops.store import tags

    rng = random.Random(7)
    path = tmp_path / "s.db"

    def msg(i: int) -> bytes:
        return (f"From: a{i}@example.test\r\nTo: b@example.test\r\nSubject: m{i}\r\n"
                f"Message-ID: <c{i}@example.test>\r\n\r\nbody {i}\r\n").encode()

    with Store(path) as store:
        ids = store.add_parsed([(Incoming(msg(i), source="import"), summarize(msg(i)))
                                for i in range(30)])
        for step in range(60):
            live = [int(r[0]) for r in store.db.execute("SELECT id FROM messages")]
            pick = rng.sample(live, min(len(live), rng.randint(1, 6)))
            action = step % 6
            if action == 0:
                tags.change_tags(store, pick, add=[rng.choice(["work", "Home", "x"])])
            elif action == 1:
                tags.change_tags(store, pick, remove=[rng.choice(["work", "home", "x"])])
            elif action == 2:
                tags.move(store, pick, rng.choice(["INBOX", "Archive", "archive", "Spam"]))
            elif action == 3:
                tags.mark(store, pick, rng.choice(["read", "unread", "flagged"]))
            elif action == 4 and len(live) > 10:
                store.delete(pick[:2])
            else:
                n = 1000 + step
                ids += store.add_parsed([(Incoming(msg(n), source="import"), summarize(msg(n)))])
            assert _kept_counts(store) == _true_counts(store), (step, action)
        expected = _true_counts(store)
    with sqlite3.connect(path) as db:  # as a schema-6 store: no tables, no triggers
        for name in ("folder_counts", "tag_counts"):
            db.execute(f"DROP TABLE {name}")
        for (name,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'"
                                  " AND name LIKE 'counts_%'").fetchall():
            db.execute(f"DROP TRIGGER {name}")
        db.execute("PRAGMA user_version = 6")
    with Store(path) as store:
        assert _kept_counts(store) == expected
