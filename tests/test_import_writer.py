"""The import writer (`Store.add_prepared`) stores exactly what one message at a time does.

The bulk path threads a whole batch before inserting it (mailops.store.threads.
assign_batch) and tags it with the envelopes it already holds. The reference is
the daemon's path: raw rows first (`add_raw`), then `index_pending`, which threads
each message with `threads.assign` after its summary is written. Both stores must
hold the same rows in every table the writer touches, thread numbers included.
"""

from __future__ import annotations

import sqlite3
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

import zstandard
from hypothesis import given, settings
from hypothesis import strategies as st

from mailops.mime import summarize
from mailops.store import Incoming, Store
from mailops.store.store import ZSTD_LEVEL, prepare
from mailops.store.threads import set_subject_days
from mailops.tagging import Rule, Tagging

TAGGING = Tagging(rules=(Rule("alpha", "subject:alpha", ("greek",)),
                         Rule("moved", "tag:work", ("seen-work",), folder="Work")))
# Every table the writer fills, in full, in a fixed order.
TABLES = {
    "messages": "SELECT * FROM messages ORDER BY id",
    "bodies": "SELECT * FROM bodies ORDER BY id",
    "texts": "SELECT * FROM texts ORDER BY id",
    "thread_ids": "SELECT * FROM thread_ids ORDER BY message_id",
    "thread_subjects": "SELECT * FROM thread_subjects ORDER BY subject, thread_id",
    "tags": "SELECT * FROM tags ORDER BY msg_id, tag",
    "folder_counts": "SELECT * FROM folder_counts ORDER BY folder",
    "tag_counts": "SELECT * FROM tag_counts ORDER BY tag",
    "texts_fts_docsize": "SELECT * FROM texts_fts_docsize ORDER BY id",
    "texts_fts_config": "SELECT * FROM texts_fts_config ORDER BY k",  # bulk_writes restores it
    # The search index's whole logical content: every term at every position.
    "fts_instances": "SELECT * FROM temp.fts_instances ORDER BY term, doc, col, offset",
}
BASE = datetime(2026, 3, 1, 12, tzinfo=UTC)
SUBJECTS = ("alpha plan", "budget", "[dev] release", "")


@dataclass(frozen=True)
class Spec:
    """One generated message: ids are small numbers so they collide on purpose."""

    own: int | None  # Message-ID <mN@x.test>, or none at all
    refs: tuple[int, ...] = ()
    reply_to: int | None = None
    subject: int = 0  # index into SUBJECTS
    reply_subject: bool = False  # "Re: " in front
    day: int | None = 0  # Date header BASE + days; None: no Date (arrival time counts)
    plus: str | None = None  # To: b+TAG@x.test
    header_tag: str | None = None  # X-Tags
    envelope_plus: str | None = None  # envelope recipient c+TAG@x.test


def raw(spec: Spec, n: int) -> bytes:
    lines = [f"From: a{n % 3}@x.test",
             f"To: {'b+' + spec.plus if spec.plus else 'b'}@x.test",
             f"Subject: {'Re: ' if spec.reply_subject else ''}{SUBJECTS[spec.subject]}"]
    if spec.own is not None:
        lines.append(f"Message-ID: <m{spec.own}@x.test>")
    if spec.refs:
        lines.append("References: " + " ".join(f"<m{r}@x.test>" for r in spec.refs))
    if spec.reply_to is not None:
        lines.append(f"In-Reply-To: <m{spec.reply_to}@x.test>")
    if spec.day is not None:
        lines.append("Date: " + format_datetime(BASE + timedelta(days=spec.day, minutes=n)))
    if spec.header_tag:
        lines.append(f"X-Tags: {spec.header_tag}")
    return ("\n".join(lines) + f"\n\nbody {n} words\n").encode()


def incoming(specs: Sequence[Spec]) -> list[Incoming]:
    return [Incoming(raw(s, n), rcpt_to=[f"c+{s.envelope_plus}@x.test"] if s.envelope_plus
                     else [], source="import",
                     received_at=(BASE + timedelta(days=2, seconds=n)).timestamp())
            for n, s in enumerate(specs)]


def contents(store: Store) -> dict[str, list[tuple[object, ...]]]:
    store.db.execute("INSERT INTO texts_fts (texts_fts) VALUES ('integrity-check')")
    store.db.execute("CREATE VIRTUAL TABLE IF NOT EXISTS temp.fts_instances"
                     " USING fts5vocab(main, texts_fts, instance)")
    return {name: [tuple(r) for r in store.db.execute(sql)] for name, sql in TABLES.items()}


def one_at_a_time(path: Path, items: list[Incoming], days: int) -> Store:
    """The reference: the daemon's per-message threading (`threads.assign`)."""
    store = Store(path, tagging=TAGGING)
    set_subject_days(store.db, days)
    for item in items:
        store.add_raw([item])
        assert store.index_pending() == 1
    return store


def batched(path: Path, items: list[Incoming], days: int, cuts: Sequence[int]) -> Store:
    """The import writer, in batches ending at `cuts`."""
    store = Store(path, tagging=TAGGING)
    set_subject_days(store.db, days)
    compressor = zstandard.ZstdCompressor(level=ZSTD_LEVEL)
    prepared = [prepare(i, summarize(i.raw), compressor) for i in items]
    start = 0
    with store.bulk_writes():
        # A batch's search entries are kept in memory until its commit.
        assert store.db.execute("SELECT v FROM texts_fts_config WHERE k = 'hashsize'"
                                ).fetchone()[0] == 8 << 20
        for end in [*sorted(set(cuts)), len(prepared)]:
            if end > start:
                store.add_prepared(prepared[start:end], skip_stored=True)
                start = end
    return store


def check_same(tmp: Path, specs: Sequence[Spec], days: int,
               cuts: Sequence[int]) -> dict[str, list[tuple[object, ...]]]:
    items = incoming(specs)
    with one_at_a_time(tmp / "one.db", items, days) as one, \
            batched(tmp / "bulk.db", items, days, cuts) as bulk:
        want, got = contents(one), contents(bulk)
        for table in TABLES:
            assert got[table] == want[table], table
        for query in ("alpha", "words", "tag:greek", "folder:work"):
            assert bulk.search(query) == one.search(query), query
    return want


def thread_groups(path: Path) -> list[str]:
    with sqlite3.connect(path) as db:
        return [r[0] for r in db.execute(
            "SELECT group_concat(id) FROM (SELECT id, thread_id FROM messages ORDER BY id)"
            " GROUP BY thread_id ORDER BY min(id)")]


def test_tricky_threads_in_one_batch_equal_one_at_a_time(tmp_path: Path) -> None:
    specs = [
        Spec(own=3, refs=(1, 2), subject=1, reply_subject=True),  # reply before its parents
        Spec(own=1, subject=1),  # the root arrives: same thread as its placeholder
        Spec(own=10, subject=2),  # a second thread
        Spec(own=11, reply_to=10, subject=2, reply_subject=True, plus="work"),
        Spec(own=12, refs=(10, 2), subject=2),  # names both threads: they merge
        Spec(own=3, subject=0, header_tag="dup"),  # a duplicate Message-ID
        Spec(own=None, subject=0, reply_subject=True),  # no id: subject fallback
        Spec(own=None, subject=0, reply_subject=True, day=30),  # outside the window
        Spec(own=None, subject=3),  # no id, no subject: a thread of its own
        Spec(own=20, subject=0, day=None, envelope_plus="env"),  # no Date: arrival time
        Spec(own=21, refs=(20,), reply_to=20, subject=0, reply_subject=True),
        Spec(own=30, subject=1), Spec(own=31, subject=1),
        Spec(own=32, refs=(30, 31)),  # merges two threads of one message each
        Spec(own=33, refs=(20, 30)),  # and a bigger merge that renumbers the batch
    ]
    got = check_same(tmp_path, specs, 7, [])
    assert len(got["messages"]) == len(specs)
    assert thread_groups(tmp_path / "bulk.db") == [
        "1,2,3,4,5,6,7", "8", "9", "10,11,12,13,14,15"]
    assert {r[1] for r in got["tags"]} == {"dup", "env", "greek", "seen-work", "work"}
    # The same corpus in every batching, including one message per batch.
    for cuts in ([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14], [4, 9], [13]):
        check_same(tmp_path / f"cut{len(cuts)}", specs, 7, cuts)


def test_already_stored_threads_merge_through_a_later_batch(tmp_path: Path) -> None:
    specs = [Spec(own=1, subject=1), Spec(own=2, subject=2), Spec(own=3, reply_to=2),
             Spec(own=None, subject=1, reply_subject=True),  # joins 1 by subject
             # next batch: replies naming stored messages, then a merge of both threads
             Spec(own=4, refs=(1,)), Spec(own=5, refs=(9,)), Spec(own=6, refs=(3, 4, 5)),
             Spec(own=9, subject=0)]
    got = check_same(tmp_path, specs, 3, [4])
    assert len({r[-1] for r in got["thread_ids"]}) == 1


spec = st.builds(
    Spec, own=st.one_of(st.none(), st.integers(0, 9)),
    refs=st.lists(st.integers(0, 9), max_size=3).map(tuple),
    reply_to=st.one_of(st.none(), st.integers(0, 9)), subject=st.integers(0, 3),
    reply_subject=st.booleans(), day=st.one_of(st.none(), st.integers(-10, 10)),
    plus=st.sampled_from([None, "work", "x"]), header_tag=st.sampled_from([None, "a b", "work"]),
    envelope_plus=st.sampled_from([None, "env"]))


@settings(max_examples=40, deadline=None)
@given(specs=st.lists(spec, min_size=1, max_size=16), days=st.sampled_from([0, 5]),
       cuts=st.lists(st.integers(1, 15), max_size=3))
def test_any_corpus_and_batching_equal_one_at_a_time(specs: list[Spec], days: int,
                                                     cuts: list[int]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        check_same(Path(tmp), specs, days, cuts)


def test_bulk_writes_restores_a_configured_hashsize(tmp_path: Path) -> None:
    with Store(tmp_path / "s.db") as store:
        store.db.execute("INSERT INTO texts_fts (texts_fts, rank) VALUES ('hashsize', 65536)")
        def hashsize() -> int:
            return int(store.db.execute(
                "SELECT v FROM texts_fts_config WHERE k = 'hashsize'").fetchone()[0])

        with store.bulk_writes():
            assert hashsize() == 8 << 20  # a batch's worth while importing
        assert hashsize() == 65536
