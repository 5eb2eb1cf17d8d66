"""The paging behind the TUI's list: engine positions (mailops.store.listing), the page
cache (mailops.tui.source) and delete-with-undo (mailops.trash)."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from mailops.tui.source import MessageSource

from mailops.store import Incoming, Store
from mailops.store.listing import ORDERS, count, cursor_at, page, position_of, reverse_cursor
from mailops.store.tags import move
from mailops.trash import TRASH, restore, trash


def _raw(i: int) -> bytes:
    # Dates repeat (ties broken by id) and every 7th message has no Date header
    # (sorted by arrival time instead).
    date = "" if i % 7 == 0 else f"Date: Mon, {1 + (i // 4) % 28:02d} Jun 2026 10:00:00 +0000\r\n"
    word = "invoice" if i % 3 == 0 else "deploy"
    return (f"From: s{i}@example.test\r\nTo: dev@example.test\r\nSubject: {word} {i}\r\n"
            f"{date}Message-ID: <m{i}@example.test>\r\n\r\nbody {i}\r\n").encode()


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Store:
    path = Path(tmp_path_factory.mktemp("listing")) / "mailops.db"
    s = Store(path)
    s.add_raw([Incoming(raw=_raw(i), received_at=1780000000.0 + (i * 7919) % 500)
               for i in range(1, 131)])
    while s.index_pending():
        continue
    move(s, range(1, 131, 10), "Archive")
    return s


def _reference(store: Store, query: str | None, sort: str) -> list[int]:
    """Every matching id in order, by plain keyset paging."""
    ids: list[int] = []
    after = None
    while True:
        rows = page(store, query, sort=sort, limit=11, after=after)
        if not rows:
            return ids
        ids += [int(r["id"]) for r in rows]
        after = rows[-1]["cursor"]


@pytest.mark.parametrize("query", [None, "folder:INBOX", "invoice", "-folder:Archive deploy"])
@pytest.mark.parametrize("sort", ["date", "oldest", "sender", "subject-desc", "size",
                                  "smallest", "threads", "threads-oldest"])
def test_positions_and_random_access_match_sequential_paging(store: Store, query: str | None,
                                                             sort: str) -> None:
    ref = _reference(store, query, sort)
    if sort in ("date", "oldest"):  # the same order as `mailops ls`
        assert ref == [int(r["id"]) for r in store.search(query, sort=sort, limit=1000)]
    assert count(store, query, sort=sort) == len(ref) > 0
    source = MessageSource(store, query, sort=sort, page_size=7, max_pages=3)
    source.prime()
    assert source.total == len(ref)
    rng = random.Random(5)
    # Jumps, the ends, and walks both ways: every row must be the reference's.
    order = [len(ref) - 1, 0, len(ref) // 2, *range(len(ref) // 2, -1, -1),
             *range(len(ref) - 1, len(ref) // 3, -1), *rng.sample(range(len(ref)), len(ref))]
    for index in order:
        row = source.row(index)
        assert row is not None and row["id"] == ref[index], index
        assert position_of(store, query, sort, row["cursor"]) == index
        assert len(source.describe()["pages"]) <= 3
    assert source.row(len(ref)) is None
    assert cursor_at(store, query, sort, len(ref)) is None
    first = source.row(0)
    assert first is not None
    back = reverse_cursor(sort, first["cursor"])
    assert reverse_cursor(ORDERS[sort], back) == first["cursor"]


def test_sorts_order_by_their_key(store: Store) -> None:
    everything = {int(r["id"]): r for r in store.search(None, limit=1000)}

    def ids(sort: str) -> list[int]:
        return _reference(store, None, sort)

    assert ids("sender") == sorted(everything, key=lambda i: (everything[i]["from"].lower(), i))
    assert ids("subject-desc") == sorted(
        everything, key=lambda i: (everything[i]["subject"].lower(), i), reverse=True)
    assert ids("size") == sorted(everything, key=lambda i: (everything[i]["size"], i),
                                 reverse=True)
    # No References here: one conversation per message.
    assert ids("threads") == ids("date")


def test_trash_and_restore_put_messages_back_in_their_folders(tmp_path: Path) -> None:
    with Store(tmp_path / "mailops.db") as s:
        s.add_raw([Incoming(raw=_raw(i)) for i in range(1, 5)])
        while s.index_pending():
            continue
        move(s, [2], "Work")
        done = trash(s, [1, 2, 99])
        assert done.count == 2 and done.folders == {"INBOX": [1], "Work": [2]}
        assert {s.get(1)["folder"], s.get(2)["folder"]} == {TRASH}
        assert trash(s, [1]).count == 0  # already there
        assert restore(s, done) == 2
        assert (s.get(1)["folder"], s.get(2)["folder"]) == ("INBOX", "Work")
