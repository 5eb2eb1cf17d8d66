"""The query parser alone: every operator, positioned errors, and no crash on any input."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mailops.mime import summarize
from mailops.query import (
    And,
    Filter,
    Not,
    Or,
    QuerySyntaxError,
    Term,
    date_interval,
    parse,
    parse_size,
)
from mailops.store import Incoming, Store

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
DAY = 86400.0


def ts(text: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp()


CASES = [
    ("hello", Term("hello")),
    ("hello world", And((Term("hello"), Term("world")))),
    ('"exact phrase"', Term("exact phrase", kind="phrase")),
    ("invoi*", Term("invoi", kind="prefix")),
    ("a OR b", Or((Term("a"), Term("b")))),
    ("a AND b", And((Term("a"), Term("b")))),
    ("NOT spam", Not(Term("spam"))),
    ("-spam", Not(Term("spam"))),
    ("a (b OR c)", And((Term("a"), Or((Term("b"), Term("c")))))),
    ("a b OR c", Or((And((Term("a"), Term("b"))), Term("c")))),
    ("from:alice", Term("alice", "from")),
    ("to:bob", Term("bob", "to")),
    ("cc:carol", Term("carol", "cc")),
    ('subject:"big news"', Term("big news", "subject", "phrase")),
    ("body:hello*", Term("hello", "body", "prefix")),
    ("filename:report.pdf", Term("report.pdf", "filename")),
    ("message-id:<a@b>", Filter("message-id", "a@b")),
    ("id:a@b", Filter("message-id", "a@b")),
    ("tag:work", Filter("tag", "work")),
    ("folder:Sent", Filter("folder", "Sent")),
    ("in:Sent", Filter("folder", "Sent")),
    ("folder:Archive*", Filter("folder-prefix", "Archive")),
    ("in:Archive/*", Filter("folder-prefix", "Archive/")),
    ('folder:"odd*"', Filter("folder", "odd*")),  # quoted: the exact name
    ("is:unread", Filter("is", "unread")),
    ("IS:Flagged", Filter("is", "flagged")),
    ("is:unreplied", Filter("is", "unreplied")),
    ("has:attachment", Filter("has", "attachment")),
    ("larger:2M", Filter("larger", "2M", 2 * 1024 * 1024)),
    ("smaller:200k", Filter("smaller", "200k", 200 * 1024)),
    ("before:2026-03-01", Filter("date", "2026-03-01", None, ts("2026-03-01T00:00"))),
    ("after:2026-03-01", Filter("date", "2026-03-01", ts("2026-03-01T00:00"), None)),
    ("date:2026-03-01..2026-03-02",
     Filter("date", "2026-03-01..2026-03-02", ts("2026-03-01T00:00"), ts("2026-03-03T00:00"))),
    ("date:2026-03", Filter("date", "2026-03", ts("2026-03-01T00:00"), ts("2026-04-01T00:00"))),
    ("after:yesterday", Filter("date", "yesterday", ts("2026-11-27T00:00"), None)),
    ("after:7d", Filter("date", "7d", NOW.timestamp() - 7 * DAY, None)),
    ("thread:42", Filter("thread", "42")),
    ("re:hello", Term("re:hello")),
    ("Zoë CAFÉ", And((Term("Zoë"), Term("CAFÉ")))),
    ('"say ""hi"""', Term('say "hi"', kind="phrase")),
    ("from:alice -is:read", And((Term("alice", "from"), Not(Filter("is", "read"))))),
]


@pytest.mark.parametrize("query,expected", CASES, ids=[c[0] for c in CASES])
def test_operators(query: str, expected: object) -> None:
    assert parse(query, now=NOW) == expected


ERRORS = [
    ("", 0, "a search term"),
    ("(a", 2, "a closing parenthesis"),
    ("a)", 1, "OR, a search term or the end of the query"),
    ("()", 1, "a search term inside the parentheses"),
    ('"open', 5, "a closing quote"),
    ("a OR", 4, "a search term"),
    ("from:", 5, "a value right after from:"),
    ("is:bogus", 3, "one of flagged, read, replied, unflagged, unread, unreplied after is:"),
    ("has:pictures", 4, "attachment after has:"),
    ("larger:big", 7, "a size like 200k or 2M"),
    ("after:someday", 6, "a date"),
    ("thread:abc", 7, "a message id number"),
    ("folder:*", 7, "a folder name before the * after folder:"),
]


@pytest.mark.parametrize("query,position,expected", ERRORS, ids=[e[0] or "empty" for e in ERRORS])
def test_errors_name_position_and_expectation(query: str, position: int, expected: str) -> None:
    with pytest.raises(QuerySyntaxError) as info:
        parse(query, now=NOW)
    assert info.value.position == position
    assert expected in info.value.expected
    assert "\n" not in info.value.message
    assert info.value.exit_code == 2


def test_sizes_and_dates() -> None:
    assert parse_size("10") == 10
    assert parse_size("1.5k") == 1536
    assert parse_size("3G") == 3 * 1024**3
    start, end = date_interval("today", NOW)
    assert end - start == DAY
    minute_start, minute_end = date_interval("2026-03-01T10:00", NOW)
    assert minute_end - minute_start == 60


@settings(max_examples=400, deadline=None)
@given(st.text(alphabet=st.sampled_from(list('ab "()-*:OR ANDNOTfromis:larger2Mé\t')), max_size=40)
       | st.text(max_size=40))
def test_any_string_parses_or_gives_a_positioned_error(query: str) -> None:
    try:
        parse(query, now=NOW)
    except QuerySyntaxError as exc:
        assert 0 <= exc.position <= len(query)


@pytest.fixture(scope="module")
def small_store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    raws = [b"From: Zo\xc3\xab <zoe@example.test>\nTo: a@example.test\nSubject: caf\xc3\xa9 menu\n"
            b"Message-ID: <m1@example.test>\nDate: Mon, 02 Mar 2026 10:00:00 +0000\n\n"
            b"budget review\n",
            b"From: b@example.test\nSubject: Re: x\nIn-Reply-To: <m1@example.test>\n\nnot much\n"]
    with Store(tmp_path_factory.mktemp("query") / "s.db") as store:
        store.add_parsed([(Incoming(raw, source="import"), summarize(raw)) for raw in raws])
        yield store


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.sampled_from(list('ab "()-*:^.,OR ANDNOTfromis:subjectbody2M7d\'é')),
               max_size=40) | st.text(max_size=30))
def test_any_query_runs_on_a_store_or_gives_a_positioned_error(small_store: Store,
                                                               query: str) -> None:
    """Parsing, compiling to FTS5 + SQL and running: a positioned error or rows, never
    another exception (an FTS5 syntax error would be a compiler bug)."""
    try:
        node = parse(query, now=NOW)
    except QuerySyntaxError as exc:
        assert 0 <= exc.position <= len(query)
        return
    for sort in ("date", "relevance"):
        rows = small_store.search(node, sort=sort, limit=5, snippets=True)
        assert len(rows) <= 2
