"""The query language end to end: `mailops import` a fixed corpus, then `search`, `ls`,
`rm --query`, `wait` and `export` through the real CLI (docs/search.md)."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from conftest import Cli
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mailops.mime import summarize
from mailops.paths import resolve_paths
from mailops.query import QuerySyntaxError, parse
from mailops.store import Incoming, Store, querysql

YESTERDAY = (datetime.now(UTC) - timedelta(days=1)).replace(hour=12, minute=0, second=0)


def _now_relative(query: str, expected: set[str]) -> set[str]:
    """`expected`, unless the run crossed midnight (UTC) since YESTERDAY was picked:
    then "yesterday" is the day after the one the corpus's message was dated."""
    crossed = (datetime.now(UTC) - timedelta(days=1)).date() != YESTERDAY.date()
    return expected - {"Fresh arrival"} if crossed and "yesterday" in query else expected
BIG = base64.encodebytes(bytes(range(256)) * 120).decode()  # ~40 KB attachment

# name, headers, body, attachment (filename, base64 text) or None
CORPUS: list[tuple[str, dict[str, str], str, tuple[str, str] | None]] = [
    ("a01", {"From": "Alice <alice@example.test>", "To": "bob@example.test",
             "Subject": "Invoice March", "Date": "Mon, 02 Mar 2026 09:00:00 +0000"},
     "Please find the invoice attached", ("invoice-march.pdf", "JVBERi0xLjQK\n")),
    ("a02", {"From": "Bob <bob@example.test>", "To": "alice@example.test",
             "Cc": "carol@example.test", "Subject": "Meeting notes",
             "Date": "Thu, 05 Mar 2026 09:00:00 +0000"},
     "notes from the weekly meeting about the budget", None),
    ("a03", {"From": "billing@shop.test", "To": "alice@example.test",
             "Subject": "Your order has shipped", "Date": "Tue, 10 Mar 2026 09:00:00 +0000"},
     "tracking number 12345", None),
    ("a04", {"From": "Alice <alice@example.test>", "To": "dave@example.test",
             "Bcc": "eve@example.test", "Subject": "Password reset",
             "Date": "Wed, 01 Apr 2026 09:00:00 +0000"},
     "click to reset your password", None),
    ("a05", {"From": "Zoë <zoe@example.test>", "To": "bob@example.test",
             "Subject": "Café menu", "Date": "Thu, 02 Apr 2026 09:00:00 +0000"},
     "crème brûlée tonight", None),
    ("a06", {"From": "carol@example.test", "To": "bob@example.test",
             "Subject": "Re: Meeting notes", "In-Reply-To": "<a02@corpus.test>",
             "References": "<a02@corpus.test>", "Date": "Fri, 03 Apr 2026 09:00:00 +0000"},
     "thanks for the notes", None),
    ("a07", {"From": "newsletter@news.test", "To": "alice@example.test",
             "Subject": "Weekly newsletter", "Date": "Sun, 05 Apr 2026 09:00:00 +0000"},
     "invoices and reports this week", None),
    ("a08", {"From": "Bob <bob@example.test>", "To": "alice@example.test",
             "Subject": "Budget report", "Date": "Fri, 01 May 2026 09:00:00 +0000"},
     "the quarterly budget report", ("report.xlsx", BIG)),
    ("a09", {"From": "dave@example.test", "To": "alice@example.test",
             "Subject": "reset password again", "Date": "Sat, 02 May 2026 09:00:00 +0000"},
     "the password was not reset", None),
    ("a10", {"From": "eve@example.test", "To": "bob@example.test",
             "Subject": "Lunch?", "Date": "Sun, 03 May 2026 09:00:00 +0000"},
     "pizza or sushi", None),
    ("a11", {"From": "Alice <alice@example.test>", "To": "carol@example.test",
             "Subject": "Holiday photos", "Date": "Mon, 04 May 2026 09:00:00 +0000"},
     "see the beach", ("beach.jpg", "/9j/4AAQ\n")),
    ("a12", {"From": "ops@example.test", "To": "dev@example.test",
             "Subject": "Deploy failed", "Date": "Tue, 05 May 2026 09:00:00 +0000"},
     "error in build 42", None),
    ("a13", {"From": "ops@example.test", "To": "dev@example.test",
             "Subject": "Deploy succeeded", "Date": "Wed, 06 May 2026 09:00:00 +0000"},
     "build 43 ok", None),
    ("a14", {"From": "billing@shop.test", "To": "alice@example.test",
             "Subject": "Invoice April", "Date": "Mon, 20 Apr 2026 09:00:00 +0000"},
     "total due", None),
    ("a15", {"From": "archive@example.test", "To": "alice@example.test",
             "Subject": "Old news", "Date": "Thu, 15 Jan 2026 09:00:00 +0000"},
     "from the archive", None),
    ("a16", {"From": "fresh@example.test", "To": "alice@example.test",
             "Subject": "Fresh arrival",
             "Date": YESTERDAY.strftime("%a, %d %b %Y %H:%M:%S +0000")},
     "just in", None),
]
ALL = {headers["Subject"] for _, headers, _, _ in CORPUS}


def eml(name: str, headers: dict[str, str], body: str,
        attachment: tuple[str, str] | None) -> bytes:
    """One message as bytes: plain text, or multipart with an attachment."""
    head = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
    head += f"Message-ID: <{name}@corpus.test>\r\nMIME-Version: 1.0\r\n"
    if attachment is None:
        return (head + "Content-Type: text/plain; charset=utf-8\r\n\r\n" + body + "\r\n").encode()
    filename, data = attachment
    return (head + 'Content-Type: multipart/mixed; boundary="b"\r\n\r\n'
            "--b\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n" + body + "\r\n"
            "--b\r\nContent-Type: application/octet-stream\r\n"
            f'Content-Disposition: attachment; filename="{filename}"\r\n'
            "Content-Transfer-Encoding: base64\r\n\r\n" + data.replace("\n", "\r\n")
            + "--b--\r\n").encode()


def write_corpus(folder: Path) -> Path:
    folder.mkdir()
    for name, headers, body, attachment in CORPUS:
        (folder / f"{name}.eml").write_bytes(eml(name, headers, body, attachment))
    return folder


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Cli:
    """A store with the corpus imported, some read/flagged/replied, tagged and moved."""
    base = tmp_path_factory.mktemp("search")
    home = base / "home"
    home.mkdir()
    cli = Cli(home)
    cli.ok("import", str(write_corpus(base / "mail")))
    cli.ok("mark", "from:alice", "read")
    cli.ok("mark", "subject:deploy", "flagged")
    cli.ok("mark", "message-id:a02@corpus.test", "replied")
    cli.ok("tag", "subject:invoice", "+billing")
    cli.ok("mv", "from:ops", "Ops")
    return cli


def subjects(cli: Cli, *args: str) -> list[str]:
    return [r["subject"] for r in cli.ok(*args, "--json").json()]


NOT_ALICE = ALL - {"Invoice March", "Password reset", "Holiday photos"}
NOT_DEPLOY = ALL - {"Deploy failed", "Deploy succeeded"}

CASES: list[tuple[str, set[str]]] = [
    # words: whole tokens, ANDed, case- and accent-insensitive, no stemming
    ("invoice", {"Invoice March", "Invoice April"}),
    ("INVOICE", {"Invoice March", "Invoice April"}),
    ("invoice*", {"Invoice March", "Invoice April", "Weekly newsletter"}),
    ("invoices", {"Weekly newsletter"}),
    ("invo", set()),
    ("cafe", {"Café menu"}),
    ("CRÈME brulee", {"Café menu"}),
    ("password reset", {"Password reset", "reset password again"}),
    ('"password reset"', {"Password reset"}),
    ('"reset password"', {"reset password again"}),
    ("re:meeting", {"Re: Meeting notes"}),
    # boolean operators
    ("meeting OR budget", {"Meeting notes", "Re: Meeting notes", "Budget report"}),
    ("deploy -failed", {"Deploy succeeded"}),
    ("deploy NOT failed", {"Deploy succeeded"}),
    ("deploy AND failed", {"Deploy failed"}),
    ("(deploy OR lunch) -failed", {"Deploy succeeded", "Lunch?"}),
    ("-deploy", NOT_DEPLOY),
    ("NOT (deploy OR invoice)", NOT_DEPLOY - {"Invoice March", "Invoice April"}),
    # fields
    ("from:alice", {"Invoice March", "Password reset", "Holiday photos"}),
    ("from:alice@example.test", {"Invoice March", "Password reset", "Holiday photos"}),
    ("from:zoe", {"Café menu"}),
    ("to:eve", {"Password reset"}),  # Bcc counts for to:
    ("to:carol", {"Meeting notes", "Holiday photos"}),  # Cc counts for to:
    ("cc:carol", {"Meeting notes"}),
    ("subject:budget", {"Budget report"}),
    ("body:budget", {"Meeting notes", "Budget report"}),
    ('subject:"meeting notes"', {"Meeting notes", "Re: Meeting notes"}),
    ("subject:invoi*", {"Invoice March", "Invoice April"}),
    ("filename:report", {"Budget report"}),
    ("filename:pdf", {"Invoice March"}),
    ("message-id:<a05@corpus.test>", {"Café menu"}),
    ("id:a05@corpus.test", {"Café menu"}),
    # structured filters
    ("tag:billing", {"Invoice March", "Invoice April"}),
    ("tag:BILLING", {"Invoice March", "Invoice April"}),
    ("folder:Ops", {"Deploy failed", "Deploy succeeded"}),
    ("in:ops", {"Deploy failed", "Deploy succeeded"}),
    ("in:inbox", NOT_DEPLOY),
    ("is:read", {"Invoice March", "Password reset", "Holiday photos"}),
    ("is:unread", NOT_ALICE),
    ("is:flagged", {"Deploy failed", "Deploy succeeded"}),
    ("is:unflagged", NOT_DEPLOY),
    ("is:replied", {"Meeting notes"}),
    ("is:unreplied", ALL - {"Meeting notes"}),
    ("has:attachment", {"Invoice March", "Budget report", "Holiday photos"}),
    ("larger:20k", {"Budget report"}),
    ("smaller:20k", ALL - {"Budget report"}),
    ("before:2026-03-06", {"Old news", "Invoice March", "Meeting notes"}),
    ("after:2026-05-03 before:2026-05-06", {"Lunch?", "Holiday photos", "Deploy failed"}),
    ("date:2026-04-01..2026-04-03", {"Password reset", "Café menu", "Re: Meeting notes"}),
    ("date:2026-04", {"Password reset", "Café menu", "Re: Meeting notes", "Weekly newsletter",
                      "Invoice April"}),
    ("date:..2026-01", {"Old news"}),
    ("after:7d", {"Fresh arrival"}),
    ("date:yesterday", {"Fresh arrival"}),
    # combinations
    ("from:alice has:attachment", {"Invoice March", "Holiday photos"}),
    ("from:alice -has:attachment", {"Password reset"}),
    ("invoice tag:billing is:read", {"Invoice March"}),
    ("(from:bob OR from:carol) subject:notes", {"Meeting notes", "Re: Meeting notes"}),
    ('subject:"meeting notes" -from:carol', {"Meeting notes"}),
    ("tag:billing OR is:flagged", {"Invoice March", "Invoice April", "Deploy failed",
                                   "Deploy succeeded"}),
    ("build -is:flagged", set()),
    ("is:unread (lunch OR pizza OR deploy) -in:ops", {"Lunch?"}),
    ("date:2026-05 -from:ops has:attachment", {"Budget report", "Holiday photos"}),
    ("!!! deploy", {"Deploy failed", "Deploy succeeded"}),  # punctuation-only terms drop out
]


@pytest.mark.parametrize("query,expected", CASES, ids=[c[0] for c in CASES])
def test_operator_table(corpus: Cli, query: str, expected: set[str]) -> None:
    # "--": a query may start with "-" (a negation), which is not an option
    found = [r["subject"] for r in corpus.ok("search", "--json", "--", query).json()]
    assert len(found) == len(set(found))
    assert set(found) == _now_relative(query, expected)


def test_a_query_may_start_with_a_dash_without_double_dash(corpus: Cli) -> None:
    not_billing = ALL - {"Invoice March", "Invoice April"}
    assert set(subjects(corpus, "ls", "-tag:billing")) == not_billing
    assert set(subjects(corpus, "search", "-n", "50", "-deploy")) == NOT_DEPLOY
    # Options before and after it, -n's value attached, one dash but not an option.
    assert len(subjects(corpus, "ls", "-n1", "-tag:billing", "--sort", "oldest")) == 1
    assert set(subjects(corpus, "ls", "-inbox")) == ALL  # not -i -n box: no such word
    res = corpus("ls", "--bogus")  # an unknown long option is still an error
    assert res.code == 2 and "No such option: --bogus" in res.err


def test_thread_filter(corpus: Cli) -> None:
    rows = corpus.ok("search", "subject:meeting", "--json").json()
    ids = {r["subject"]: r["id"] for r in rows}
    got = set(subjects(corpus, "search", f"thread:{ids['Meeting notes']}"))
    assert "Meeting notes" in got and got <= {"Meeting notes", "Re: Meeting notes"}


def test_ls_takes_the_same_language_and_sorts_by_date(corpus: Cli) -> None:
    assert set(subjects(corpus, "ls", "from:alice")) == set(
        subjects(corpus, "search", "from:alice"))
    newest = subjects(corpus, "ls")
    assert newest[:3] == ["Fresh arrival", "Deploy succeeded", "Deploy failed"]
    assert newest[-1] == "Old news"
    oldest = subjects(corpus, "ls", "--sort", "oldest")
    assert oldest == newest[::-1]


def test_search_rows_have_ls_shape_plus_snippet_score_cursor(corpus: Cli) -> None:
    [ls_row] = corpus.ok("ls", "message-id:a05@corpus.test", "--json").json()
    [row] = corpus.ok("search", "tonight", "--json").json()
    assert set(row) == set(ls_row) | {"snippet", "score"}
    assert "cursor" in ls_row
    assert row["snippet"] == "crème brûlée [tonight]"
    assert isinstance(row["score"], float) and row["score"] > 0
    [flagged] = corpus.ok("search", "is:replied", "--json").json()
    assert flagged["snippet"] is None and flagged["score"] is None
    table = corpus.ok("search", "brulee").out  # not a TTY: brackets, no escapes
    assert "[brûlée]" in table and "\x1b[" not in table


def test_relevance_order(corpus: Cli) -> None:
    # Invoice March has the word in subject, body and attachment name; Invoice April
    # only in the subject, and is newer.
    assert subjects(corpus, "search", "invoice") == ["Invoice April", "Invoice March"]
    rows = corpus.ok("search", "invoice", "--sort", "relevance", "--json").json()
    assert [r["subject"] for r in rows] == ["Invoice March", "Invoice April"]
    assert rows[0]["score"] > rows[1]["score"]
    # A subject hit outranks a body hit even when the body one is older.
    assert subjects(corpus, "search", "budget", "--sort", "relevance")[0] == "Budget report"
    # Nothing to rank: relevance falls back to date.
    assert subjects(corpus, "search", "is:flagged", "--sort", "relevance") == [
        "Deploy succeeded", "Deploy failed"]


@pytest.mark.parametrize("args", [
    ("ls",),
    ("ls", "--sort", "oldest"),
    ("search", "is:unread"),
    ("search", "invoice* OR meeting OR deploy OR budget OR password OR notes",
     "--sort", "relevance"),
], ids=" ".join)
def test_cursor_pages(corpus: Cli, args: tuple[str, ...]) -> None:
    everything = corpus.ok(*args, "--json").json()
    assert len(everything) >= 7
    size = len(everything) // 3 + 1  # three pages: two full, one short
    pages: list[list[dict[str, object]]] = []
    after: list[str] = []
    while True:
        page = corpus.ok(*args, "--limit", str(size), *after, "--json").json()
        if not page:
            break
        pages.append(page)
        after = ["--after", str(page[-1]["cursor"])]
    assert [len(p) for p in pages] == [size, size, len(everything) - 2 * size]
    assert [r["id"] for p in pages for r in p] == [r["id"] for r in everything]


def test_before_id_still_pages(corpus: Cli) -> None:
    first = corpus.ok("ls", "--json", "--limit", "4").json()
    rest = corpus.ok("ls", "--json", "--before-id", str(min(r["id"] for r in first))).json()
    assert all(r["id"] < min(x["id"] for x in first) for r in rest)


@pytest.mark.parametrize("args,needle", [
    (("search", "(invoice"), "position 9"),
    (("search", "invoice)"), "position 8"),
    (("search", '"open'), "closing quote"),
    (("search", "is:bogus"), "position 4"),
    (("search", "after:someday"), "a date"),
    (("search", "a OR"), "expected a search term"),
    (("ls", "larger:huge"), "a size like 200k"),
    (("rm", "--query", "(x", "--yes"), "closing parenthesis"),
    (("wait", "from:", "--timeout", "5"), "a value right after from:"),
    (("export", "NOT", "--to", "out"), "position 4"),
    (("search", "x", "--after", "bm90IGEgY3Vyc29y"), "not a valid cursor"),
    (("ls", "--sort", "oldest", "--after", "WyJkIiwxLDFd"), "--sort date"),
], ids=lambda a: " ".join(a) if isinstance(a, tuple) else "")
def test_syntax_errors_are_one_line_exit_2(corpus: Cli, args: tuple[str, ...],
                                           needle: str) -> None:
    res = corpus(*args)
    assert res.code == 2, res.err
    lines = res.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("mailops: error: "), res.err
    assert needle in lines[0]


def test_rm_wait_and_export_use_the_language(cli: Cli, tmp_path: Path) -> None:
    cli.ok("import", str(write_corpus(tmp_path / "mail")))
    assert cli.ok("wait", "from:zoe cafe", "--timeout", "5", "--json").json()[0][
        "subject"] == "Café menu"
    assert cli("wait", "from:zoe -cafe", "--timeout", "0.3").code == 8
    out = tmp_path / "out"
    summary = cli.ok("export", "has:attachment", "--to", str(out), "--json").json()
    assert summary["exported"] == 3
    res = cli.ok("rm", "--query", "subject:deploy OR subject:lunch", "--yes")
    assert res.out.strip() == "deleted 3 message(s)"
    assert subjects(cli, "search", "deploy OR lunch") == []
    assert len(subjects(cli, "ls")) == len(CORPUS) - 3


# -- any string: results or a one-line error, never a crash -------------------------

@pytest.mark.parametrize("rare", [0, 10**9], ids=["walk-date-order", "drive-from-index"])
def test_both_plans_give_the_table_results(corpus: Cli, rare: int,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    # Store.search picks a plan per term from index counts (querysql.RARE); the tiny
    # corpus is always "rare", so force each plan and check every operator both ways.
    monkeypatch.setattr(querysql, "RARE", rare)
    with Store(resolve_paths(corpus.home).store_file, readonly=True) as store:
        for query, expected in CASES:
            rows = store.search(query, limit=100)
            assert {r["subject"] for r in rows} == _now_relative(query, expected), (query, rare)
            assert [r["id"] for r in rows] == [r["id"] for r in store.search(
                query, limit=100, sort="oldest")][::-1], query


_STORE: dict[str, Store] = {}


def _small_store(tmp_path_factory: pytest.TempPathFactory) -> Store:
    if "s" not in _STORE:
        path = tmp_path_factory.mktemp("fuzz") / "s.db"
        store = Store(path)
        store.add_parsed([(Incoming(raw, source="import"), summarize(raw))
                          for raw in (eml(*c) for c in CORPUS)])
        _STORE["s"] = store
    return _STORE["s"]


ALPHABET = [*'ab é"()-*:_!.@<>\t\x00',
    "OR ", "AND ", "NOT ", "from:", "to:", "subject:", "is:", "has:", "tag:", "in:",
    "larger:", "before:", "after:", "date:", "thread:", "id:", "..", "7d", "2026-04",
    "unread", "attachment", "invoice", "2M"]


@settings(max_examples=300, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(query=st.lists(st.sampled_from(ALPHABET), max_size=12).map("".join) | st.text(max_size=30),
       sort=st.sampled_from(["date", "oldest", "relevance"]))
def test_any_string_gives_results_or_a_one_line_error(
        tmp_path_factory: pytest.TempPathFactory, query: str, sort: str) -> None:
    store = _small_store(tmp_path_factory)
    try:
        node = parse(query)
    except QuerySyntaxError as exc:
        assert "\n" not in exc.message and 0 <= exc.position <= len(query)
        return
    rows = store.search(node, sort=sort, limit=5, snippets=True)
    assert len(rows) <= 5
    if rows:  # and the cursor of any page works
        store.search(node, sort=sort, limit=5, after=rows[-1]["cursor"])


def test_snippets_come_from_the_body_when_a_term_matched_there(corpus: Cli) -> None:
    # Both terms are in the subject and the body: the body, which the row lacks.
    snippets = {r["subject"]: r["snippet"]
                for r in corpus.ok("search", "budget report", "--json").json()}
    assert snippets["Budget report"] == "the quarterly [budget] [report]"
    # Only in the subject: the subject's snippet, so the match still shows.
    [row] = corpus.ok("search", "lunch", "--json").json()
    assert row["snippet"] == "[Lunch]?"
