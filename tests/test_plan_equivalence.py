"""Two-stage first pages (walk.two_stage) give exactly the one-query plan's rows.

A generated store (dates mostly following arrival, some old mail imported late,
ties on the date, several folders and tags) is queried through `Store.search` and
through `listing.page` (the TUI's path) with the thresholds forced small, so every
full-text term counts as common and the walk, its density fallback and its
scattered-ids fallback all run on a few hundred messages. Every page 1 and page 2
(through the keyset cursor) must equal the slice of the reference order: one SQL
query, compiled without planning.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mailops.mime import Parsed
from mailops.query import And, parse
from mailops.store import Incoming, Store, listing, querysql, walk
from mailops.store.counters import known_empty
from mailops.store.querysql import compile_query
from mailops.store.search import compile_text

N = 400
WORDS = ["budget", "review", "invoice", "meeting", "koala", "zebra", "report", "draft"]
PEOPLE = ["alice", "alice", "alice", "bob", "carol", "dave", "erin", "frank"]
FOLDERS = ["INBOX", "INBOX", "INBOX", "Work", "work", "Archive", "Archive/2024",
           "archive/old"]
QUERIES = [
    "from:alice", "budget", "budget review", '"budget review"', "invoice -from:alice",
    "from:alice folder:work", "from:alice folder:INBOX is:unread", "koala OR zebra",
    "meet*", "from:alice tag:red", "review has:attachment", "report larger:700",
    "draft date:2025-01-01..2025-06-30", "subject:meeting -tag:red", "from:nobody",
    "budget -folder:archive", "to:bob report",
    # All full-text parts negated: the walk keeps the rows the match does not find.
    "NOT budget", "-from:alice has:attachment", "-from:alice -subject:review is:read",
    "NOT (koala OR zebra) folder:work", '-"!!" -budget',
    # A common tag ANDed with filters: walked against the tag's ids, finished from its index.
    "tag:red", "tag:red is:unread folder:work", "tag:red has:attachment -folder:inbox",
    "tag:red date:2025-01-05..2025-01-12 is:read", "tag:red larger:900 -from:alice",
    # Flags: a rare one drives from its index; a common one is checked on the rows.
    "is:flagged", "is:flagged OR koala", "-is:flagged budget", "tag:red is:flagged",
    "is:unread", "is:read review",
]
# Thresholds that force each way through two_stage on a small store (a tag's chunks:
# read from the tag's index over their id range, or, TAG_SPAN 0, probed id by id).
MODES = {
    "walk": dict(WALK_FIRST=3, WALK_CHUNK=16, WALK_RATIO=1e9, TAG_WALK_RATIO=1e9,
                 RUN_GAP=10**6, RUNS_MAX=10**6),
    "density-fallback": dict(WALK_FIRST=3, WALK_CHUNK=16, WALK_RATIO=0.0, TAG_WALK_RATIO=0.0,
                             RUN_GAP=10**6, RUNS_MAX=10**6),
    "scatter-fallback": dict(WALK_FIRST=8, WALK_CHUNK=64, WALK_RATIO=1e9, TAG_WALK_RATIO=1e9,
                             RUN_GAP=2, RUNS_MAX=3, TAG_SPAN=0),
    "many-ranges": dict(WALK_FIRST=5, WALK_CHUNK=40, WALK_RATIO=1e9, TAG_WALK_RATIO=1e9,
                        RUN_GAP=0, RUNS_MAX=10**6, TAG_SPAN=10**6),
}


def _messages() -> Iterator[tuple[Incoming, Parsed]]:
    rng = random.Random(7)
    start = 1735689600.0  # 2025-01-01
    for i in range(N):
        ts = start + 3600.0 * i
        if i % 37 == 5:
            ts = start - 86400.0 * rng.randint(1, 300)  # old mail imported late
        elif i % 11 == 3:
            ts = start + 3600.0 * (i - i % 4)  # ties on the date
        who = rng.choice(PEOPLE)
        subject = " ".join(rng.choices(WORDS, k=rng.randint(1, 3)))
        text = " ".join(rng.choices(WORDS, k=6)) + " filler" * rng.randint(0, 80)
        raw = f"From: {who}@example.test\r\nSubject: {subject}\r\n\r\n{text}\r\n".encode()
        yield (Incoming(raw=raw, source="import", received_at=ts),
               Parsed(message_id=f"{i}@gen.test", subject=subject,
                      from_=f"{who}@example.test", to=[f"{rng.choice(PEOPLE)}@example.test"],
                      date_ts=ts, text=text,
                      attachments=["a.pdf"] if rng.random() < 0.2 else []))


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    path: Path = tmp_path_factory.mktemp("plans") / "s.db"
    with Store(path) as s:
        s.add_parsed(list(_messages()))
        rng = random.Random(8)
        with s.db:
            for i in range(1, N + 1):
                s.db.execute("UPDATE messages SET folder = ?, seen = ?, flagged = ? WHERE id = ?",
                              (rng.choice(FOLDERS), rng.random() < 0.6, i % 97 == 3, i))
                if rng.random() < 0.3:
                    s.db.execute("INSERT INTO tags VALUES (?, 'red')", (i,))
        yield s


def _reference(s: Store, query: str, order: str) -> list[int]:
    """Every matching id in `order`: one query, compiled without planning."""
    compiled = compile_text(query)
    assert compiled is not None
    return [r[0] for r in s.db.execute(
        f"SELECT m.id FROM messages m WHERE {compiled.where} ORDER BY {order}",
        compiled.params)]


def _force(monkeypatch: pytest.MonkeyPatch, mode: str) -> None:
    monkeypatch.setattr(querysql, "RARE", 1)  # every term that matches is "common"
    monkeypatch.setattr(querysql, "WALK_MIN", 0.0)  # and walked, whatever its share
    for name, value in MODES[mode].items():
        monkeypatch.setattr(walk, name, value)


_DATE = "coalesce(m.date_ts, m.received_at)"
SEARCH_ORDERS = {"date": f"{_DATE} DESC, m.id DESC", "oldest": f"{_DATE} ASC, m.id ASC",
                 "id": "m.id"}


@pytest.mark.parametrize("mode", MODES)
def test_search_pages_equal_the_one_query_plan(store: Store, mode: str,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    _force(monkeypatch, mode)
    walked = 0
    real_two_stage = walk.two_stage

    def counting(*args: object, **kwargs: object) -> list[tuple[object, int]]:
        nonlocal walked
        walked += 1
        return real_two_stage(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr("mailops.store.search.two_stage", counting)
    for query in QUERIES:
        for sort, order in SEARCH_ORDERS.items():
            want = _reference(store, query, order)
            for limit in (1, 7, 50):
                first = store.search(query, sort=sort, limit=limit)
                assert [r["id"] for r in first] == want[:limit], (query, sort, limit)
                if first:
                    second = store.search(query, sort=sort, limit=limit,
                                          after=first[-1]["cursor"])
                    assert [r["id"] for r in second] == want[limit:2 * limit], (query, sort)
        # Store.list's keyset by id (before_id) goes through the same path.
        want = _reference(store, query, SEARCH_ORDERS["date"])
        below = sorted(want)[len(want) // 2] if want else 0
        assert [r["id"] for r in store.list(query, limit=9, before_id=below)] == [
            i for i in want if i < below][:9], query
    assert walked > 0  # the two-stage path ran (only "from:nobody" matches nothing)
    # A page longer than WALK_PAGE is one query (its ids would be bound one by one).
    walked = 0
    want = _reference(store, "from:alice", SEARCH_ORDERS["date"])
    assert [r["id"] for r in store.search("from:alice", limit=walk.WALK_PAGE + 1)] == want
    assert walked == 0


@pytest.mark.parametrize("mode", MODES)
def test_listing_pages_equal_the_one_query_plan(store: Store, mode: str,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    _force(monkeypatch, mode)
    for sort, spec in listing._SORTS.items():
        if spec.threads:  # one row per thread: never planned, its own query as before
            continue
        direction = "DESC" if spec.descending else "ASC"
        for query in QUERIES:
            want = _reference(store, query, f"{spec.key} {direction}, m.id {direction}")
            # As typed, and as the TUI asks: ANDed with its scope (an AND inside an AND).
            scoped = And((parse("-folder:archive"), parse(query)))
            in_scope = _reference(store, f"-folder:archive ({query})",
                                  f"{spec.key} {direction}, m.id {direction}")
            for asked, rows in ((query, want), (scoped, in_scope)):
                first = listing.page(store, asked, sort=sort, limit=20)
                assert [r["id"] for r in first] == rows[:20], (query, sort)
                if first:
                    second = listing.page(store, asked, sort=sort, after=first[-1]["cursor"],
                                          limit=20)
                    assert [r["id"] for r in second] == rows[20:40], (query, sort)


def test_common_terms_get_the_two_stage_plan(store: Store,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(querysql, "RARE", 5)
    with querysql.planning(store.db):
        common = compile_text("from:alice folder:inbox")
        rare = compile_text("from:nobody")
    assert common is not None and common.walk == common.rank_match
    assert common.rest.startswith("(m.folder") or "folder" in common.rest
    assert rare is not None and rare.walk is None and rare.where.startswith("m.id IN")
    with querysql.planning(store.db):
        negated = compile_text("-from:alice -subject:review is:read")
    assert negated is not None and negated.walk_negated and negated.rank_match is None
    assert negated.walk == '((sender : "alice") OR (subject : "review"))'
    # A common tag is probed on each row walked; a rare one drives from its index.
    with querysql.planning(store.db):
        tagged = compile_text("from:alice tag:red")
        untagged = compile_text("from:alice -tag:red")
    assert tagged is not None and tagged.walk == tagged.rank_match
    assert untagged is not None and untagged.walk == untagged.rank_match
    monkeypatch.setattr(querysql, "RARE", 10**6)
    with querysql.planning(store.db):
        rare_tag = compile_text("from:alice tag:red")
    assert rare_tag is not None and rare_tag.walk is None
    assert "m.id IN (SELECT msg_id" in rare_tag.where
    monkeypatch.setattr(querysql, "RARE", 5)
    with querysql.planning(store.db):
        tag = compile_text("tag:red is:unread")
    assert tag is not None and tag.walk == "red"
    assert tag.post == "(+m.seen = 0)" and tag.post_params == []
    assert tag.fallback is not None and "m.id IN (SELECT msg_id FROM tags" in tag.fallback
    # The TUI ANDs its scope with the query: the nested AND gets the same walk.
    with querysql.planning(store.db):
        scoped = compile_query(And((parse("-folder:Trash"), parse("tag:red is:unread"))))
    assert scoped.walk == "red" and "m.seen" in scoped.post and "folder" in scoped.post
    # A flag few messages have (5 here) drives from its index (schema migration 9).
    monkeypatch.setattr(querysql, "RARE", 50)
    with querysql.planning(store.db):
        flagged = compile_text("is:flagged budget")
    assert flagged is not None and flagged.walk is None
    assert "m.id IN (SELECT id FROM messages WHERE flagged = 1)" in flagged.where
    # Outside planning (counts, cursors at a position) the plan never changes.
    unplanned = compile_text("from:alice")
    assert unplanned is not None and unplanned.walk is None


ATOMS = ["from:alice", "budget", "review", "subject:meeting", "koala", "zebra", "to:bob",
         "folder:work", "tag:red", "is:unread", "is:flagged", "has:attachment", "larger:700",
         "meet*", '"budget review"', "from:carol", "draft", "tag:red",
         "date:2025-01-03..2025-01-14", "tag:gone", "folder:nowhere",  # these two: empty
         "folder:arch*", "in:Archive/*", "folder:wo*"]


@contextmanager
def _thresholds(mode: str, rare: int) -> Iterator[None]:
    """MODES[mode] and querysql.RARE = rare for a block (hypothesis examples share
    the fixtures, so no monkeypatch)."""
    saved = {name: getattr(walk, name) for name in MODES[mode]}
    old_rare, walk_min = querysql.RARE, querysql.WALK_MIN
    try:
        querysql.RARE, querysql.WALK_MIN = rare, 0.0
        for name, value in MODES[mode].items():
            setattr(walk, name, value)
        yield
    finally:
        querysql.RARE, querysql.WALK_MIN = old_rare, walk_min
        for name, value in saved.items():
            setattr(walk, name, value)


_QUERY = st.lists(st.tuples(st.sampled_from(["", "-", "OR "]), st.sampled_from(ATOMS)),
                  min_size=1, max_size=4).map(
    lambda atoms: " ".join(op + atom for op, atom in atoms).removeprefix("OR "))
# 1: every term common; 8: the flag (5 rows) and small folders rare; 10**6: all rare.
_RARE = st.sampled_from([1, 8, 10**6])
_LISTING_SORTS = sorted(name for name, spec in listing._SORTS.items() if not spec.threads)


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(query=_QUERY, sort=st.sampled_from(sorted(SEARCH_ORDERS)), limit=st.integers(1, 30),
       mode=st.sampled_from(sorted(MODES)), rare=_RARE)
def test_any_query_pages_equal_the_one_query_plan(store: Store, query: str, sort: str,
                                                  limit: int, mode: str, rare: int) -> None:
    with _thresholds(mode, rare):
        want = _reference(store, query, SEARCH_ORDERS[sort])
        first = store.search(query, sort=sort, limit=limit)
        assert [r["id"] for r in first] == want[:limit]
        if first:
            second = store.search(query, sort=sort, limit=limit, after=first[-1]["cursor"])
            assert [r["id"] for r in second] == want[limit:2 * limit]


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(query=_QUERY, sort=st.sampled_from(_LISTING_SORTS), limit=st.integers(1, 30),
       mode=st.sampled_from(sorted(MODES)), rare=_RARE,
       scope=st.sampled_from(["-folder:archive", "folder:inbox", "tag:red", "is:unread"]))
def test_any_scoped_listing_equals_the_one_query_plan(store: Store, query: str, sort: str,
                                                      limit: int, mode: str, rare: int,
                                                      scope: str) -> None:
    # The TUI's path: its scope ANDed with the query as an AST (an AND inside an AND).
    spec = listing._SORTS[sort]
    direction = "DESC" if spec.descending else "ASC"
    with _thresholds(mode, rare):
        want = _reference(store, f"{scope} ({query})",
                          f"{spec.key} {direction}, m.id {direction}")
        asked = And((parse(scope), parse(query)))
        first = listing.page(store, asked, sort=sort, limit=limit)
        assert [r["id"] for r in first] == want[:limit]
        if first:
            second = listing.page(store, asked, sort=sort, after=first[-1]["cursor"],
                                  limit=limit)
            assert [r["id"] for r in second] == want[limit:2 * limit]


def test_a_match_too_sparse_to_walk_gets_the_one_query(store: Store,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    # The share of the newest mail a common match keeps (its RARE newest matches over
    # the ids they span) decides the plan: too sparse for a page, the one query.
    monkeypatch.setattr(querysql, "RARE", 5)
    newest = [r[0] for r in store.db.execute(
        "SELECT rowid FROM texts_fts WHERE texts_fts MATCH 'sender : \"alice\"'"
        " ORDER BY rowid DESC LIMIT 5")]
    share = 5 / (N - newest[-1] + 1)
    monkeypatch.setattr(querysql, "WALK_MIN", share * share * N * 0.99)
    with querysql.planning(store.db):
        walked = compile_text("from:alice")
        assert querysql._common(querysql._FTS, 'sender : "alice"') == pytest.approx(share)
    assert walked is not None and walked.walk == walked.rank_match
    monkeypatch.setattr(querysql, "WALK_MIN", share * share * N * 1.01)
    with querysql.planning(store.db):
        sparse = compile_text("from:alice")
        negated = compile_text("-from:alice is:read")  # judged as before: walked
    assert sparse is not None and sparse.walk is None and sparse.rank_match is not None
    assert negated is not None and negated.walk_negated
    for sort, order in SEARCH_ORDERS.items():
        for query in ("from:alice", "from:alice folder:work", "budget review"):
            want = _reference(store, query, order)
            first = store.search(query, sort=sort, limit=7)
            assert [r["id"] for r in first] == want[:7], (query, sort)
            second = store.search(query, sort=sort, limit=7, after=first[-1]["cursor"])
            assert [r["id"] for r in second] == want[7:14], (query, sort)


@pytest.mark.parametrize("span", [0, 10**6])
def test_a_tag_chunk_is_the_tag_s_rows_of_that_stretch_of_the_order(
        store: Store, span: int, monkeypatch: pytest.MonkeyPatch) -> None:
    # walk._tag_chunk (one chunk of a tag's walk, filtered in SQL) against the reference
    # order sliced in Python, over chunks holding old mail imported late (ids far from
    # their date's neighbours) and the order's end; TAG_SPAN 0: each id probed.
    monkeypatch.setattr(walk, "TAG_SPAN", span)
    monkeypatch.setattr(querysql, "RARE", 1)
    with querysql.planning(store.db):
        compiled = compile_text("tag:red is:unread")
    assert compiled is not None and compiled.walk_ids is not None
    order = SEARCH_ORDERS["date"]
    every = [r[0] for r in store.db.execute(f"SELECT m.id FROM messages m ORDER BY {order}")]
    red = {r[0] for r in store.db.execute("SELECT msg_id FROM tags WHERE tag = 'red'")}
    unread = {r[0] for r in store.db.execute("SELECT id FROM messages WHERE seen = 0")}
    keys = dict(store.db.execute(f"SELECT m.id, {_DATE} FROM messages m"))

    def after(k: object, i: int) -> tuple[str, list[object]]:
        return f"({_DATE} < ? OR ({_DATE} = ? AND m.id < ?))", [k, k, i]

    for start in (0, 1, 150, N - 40, N - 9):
        for size in (1, 7, 33):
            where, params = "1", list[object]()
            if start:
                where, params = after(keys[every[start - 1]], every[start - 1])
            found, last = walk._tag_chunk(store.db, compiled, _DATE, where, params,
                                          f"ORDER BY {order}", after, size)
            chunk = every[start:start + size]
            assert sorted(found) == sorted((i, i in unread) for i in chunk if i in red)
            if len(chunk) < size or start + size == N:
                assert last is None or last[1] == chunk[-1]
            else:
                assert last == (keys[chunk[-1]], chunk[-1])


COUNTED = ["", "folder:work", "folder:WORK", "-folder:archive", "tag:red", "TAG:RED",
           "is:unread", "folder:inbox is:unread", "-folder:Archive is:unread",
           "tag:red is:unread", "is:unread tag:red", "folder:nowhere", "tag:none",
           "-folder:nowhere", "folder:work tag:red", "is:read", "from:alice",
           "folder:work -folder:inbox", "folder:work -folder:WORK", "folder:work folder:Work",
           "-folder:inbox -folder:archive is:unread", "tag:red -folder:inbox"]


def test_counts_from_the_counters_equal_the_rows(store: Store) -> None:
    # listing.count answers a folder, All mail, a tag (each maybe unread only) from
    # folder_counts/tag_counts: the same numbers as counting the rows, also after
    # moves, flag changes, tag changes and deletes (the triggers keep them).
    def check() -> None:
        for query in COUNTED:
            rows = len(_reference(store, query, "m.id")) if query else everything()
            assert listing.count(store, query) == rows, query
            scoped = And((parse("-folder:Trash"), parse(query))) if query else None
            if scoped is not None:
                assert listing.count(store, scoped) == len(
                    _reference(store, f"-folder:Trash ({query})", "m.id")), query

    def everything() -> int:
        return int(store.db.execute("SELECT count(*) FROM messages").fetchone()[0])

    check()
    try:
        store.db.execute("SAVEPOINT counters")
        store.db.execute("UPDATE messages SET folder = 'Archive' WHERE id % 7 = 0")
        store.db.execute("UPDATE messages SET seen = 1 - seen WHERE id % 5 = 0")
        store.db.execute("DELETE FROM tags WHERE msg_id % 3 = 0")
        store.db.execute("INSERT OR IGNORE INTO tags SELECT id, 'red' FROM messages"
                         " WHERE id % 11 = 0")
        # As Store.delete does: a message's tags go with it.
        store.db.execute("DELETE FROM tags WHERE msg_id % 13 = 0")
        store.db.execute("DELETE FROM messages WHERE id % 13 = 0")
        check()
    finally:
        store.db.execute("ROLLBACK TO counters")
        store.db.execute("RELEASE counters")


def test_a_conjunct_the_counters_show_empty_empties_the_page(store: Store) -> None:
    # counters.known_empty: a folder or tag with no (unread) messages answers the
    # whole conjunction at once, in search, listing pages and counts alike.
    try:
        store.db.execute("SAVEPOINT empty")
        read = [r[0] for r in store.db.execute(
            "SELECT id FROM messages WHERE seen = 1 ORDER BY id LIMIT 4")]
        store.db.executemany("INSERT INTO tags (msg_id, tag) VALUES (?, 'allread')",
                             [(i,) for i in read])
        for query in ("tag:allread is:unread", "is:unread budget tag:allread",
                      "folder:nowhere budget", "-folder:Trash (tag:gone is:unread)"):
            assert known_empty(store.db, parse(query)), query
            assert _reference(store, query, "m.id") == []
            assert store.search(query) == [] and listing.page(store, query) == []
            assert listing.count(store, query) == 0
        # Not empty; or empty, but not a conjunct's counter (the rows answer those).
        for query in ("tag:allread", "tag:red -tag:red", "tag:gone OR folder:nowhere"):
            assert not known_empty(store.db, parse(query))
        assert store.search("tag:gone OR folder:nowhere") == []
        assert sorted(r["id"] for r in store.search("tag:allread")) == read
        # One of them unread again: the counters see it, and so does the page.
        store.db.execute("UPDATE messages SET seen = 0 WHERE id = ?", (read[0],))
        assert not known_empty(store.db, parse("tag:allread is:unread"))
        assert [r["id"] for r in store.search("tag:allread is:unread")] == [read[0]]
    finally:
        store.db.execute("ROLLBACK TO empty")
        store.db.execute("RELEASE empty")


@pytest.mark.parametrize("rare", [1, 10**6])  # both plans: the rows' range check, the index
def test_a_folder_prefix_finds_every_folder_starting_so_in_any_case(
        store: Store, rare: int, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(querysql, "RARE", rare)
    folders = dict(store.db.execute("SELECT id, folder FROM messages").fetchall())
    for query, prefix in (("folder:arch*", "arch"), ("in:Archive/*", "archive/"),
                          ("folder:WO*", "wo"), ("folder:archive/o*", "archive/o")):
        want = sorted(i for i, f in folders.items() if f.lower().startswith(prefix))
        assert want, query
        got = sorted(r["id"] for r in store.search(query, limit=10_000))
        assert got == want, query
        assert listing.count(store, query) == len(want)
