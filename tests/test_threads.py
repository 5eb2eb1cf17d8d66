"""Conversation threading: incremental at ingest, order-independent, kept across deletes."""

from __future__ import annotations

import json
import smtplib
import sqlite3
import tempfile
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import pytest
import zstandard
from conftest import Cli, start_server
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mailops.mime import summarize
from mailops.store import Incoming, Store
from mailops.store.schema import MIGRATIONS
from mailops.threads import (
    MAX_DEPTH,
    ThreadMessage,
    build_tree,
    conversation,
    is_reply_subject,
    node_dict,
    normalize_subject,
    walk,
)

BASE = datetime(2023, 1, 2, 10, 0, tzinfo=UTC)


def eml(mid: str | None, subject: str, *, refs: list[str] | tuple[str, ...] = (),
        irt: str | None = None, minutes: float = 0,
        sender: str = "Alice <alice@example.test>") -> bytes:
    """A message with the threading headers given (ids without angle brackets)."""
    lines = [f"From: {sender}", "To: team@example.test", f"Subject: {subject}",
             f"Date: {format_datetime(BASE + timedelta(minutes=minutes))}"]
    if mid:
        lines.append(f"Message-ID: <{mid}>")
    if irt:
        lines.append(f"In-Reply-To: <{irt}>")
    if refs:
        lines.append("References: " + " ".join(f"<{r}>" for r in refs))
    return ("\n".join(lines) + f"\n\nbody of {mid}\n").encode()


def mbox(*messages: bytes) -> bytes:
    return b"".join(b"From someone@example.test Mon Jan  2 10:00:00 2023\n" + m + b"\n"
                    for m in messages)


def shape(node: dict[str, Any]) -> Any:
    """A tree node by message-id only (store ids depend on arrival order)."""
    return (node["message_id"], node["missing"], [shape(c) for c in node["children"]])


def tree_lines(cli: Cli, msg_id: int) -> list[str]:
    return cli.ok("thread", str(msg_id)).out.splitlines()


def by_subject(cli: Cli) -> dict[str, dict[str, Any]]:
    return {r["subject"]: r for r in cli.ok("ls", "--json", "--limit", "100").json()}


# A real reply structure: root; two replies; a reply to a message never received;
# plus an unrelated message.
PLANS = [
    eml("root@x", "Plans", minutes=0),
    eml("r1@x", "Re: Plans", refs=["root@x"], irt="root@x", minutes=10,
        sender="Bob <bob@example.test>"),
    eml("r2@x", "Re: Plans", irt="root@x", minutes=20, sender="Carol <carol@example.test>"),
    eml("r11@x", "Re: Plans", refs=["root@x", "r1@x"], irt="r1@x", minutes=30),
    eml("r3@x", "Re: Plans", refs=["root@x", "gone@x"], irt="gone@x", minutes=40,
        sender="Dan <dan@example.test>"),
    eml("other@x", "Lunch?", minutes=50, sender="Eve <eve@example.test>"),
]


def test_imported_mbox_threads_as_a_tree(cli: Cli, tmp_path: Path) -> None:
    box = tmp_path / "plans.mbox"
    box.write_bytes(mbox(*PLANS))
    cli.ok("import", str(box))
    rows = {r["message_id"]: r["id"] for r in cli.ok("ls", "--json").json()}

    lines = tree_lines(cli, rows["r11@x"])
    assert lines[0].startswith(f"{rows['root@x']}  2023-01-02 10:00  Alice  Plans")
    assert lines[1].startswith(f"├─ {rows['r1@x']}  2023-01-02 10:10  Bob  Re: Plans")
    assert lines[2].startswith(f"│  └─ {rows['r11@x']}  ")
    assert lines[2].endswith("<-")  # the message asked for
    assert lines[3].startswith(f"├─ {rows['r2@x']}  ")
    assert lines[4] == "└─ (missing) <gone@x>"
    assert lines[5].startswith(f"   └─ {rows['r3@x']}  2023-01-02 10:40  Dan  Re: Plans")
    assert len(lines) == 6

    tree = cli.ok("thread", str(rows["root@x"]), "--json").json()
    assert tree["count"] == 5
    assert [shape(r) for r in tree["roots"]] == [
        ("root@x", False, [("r1@x", False, [("r11@x", False, [])]), ("r2@x", False, []),
                           ("gone@x", True, [("r3@x", False, [])])])]
    first = tree["roots"][0]
    assert first["from"] == "Alice <alice@example.test>" and first["subject"] == "Plans"
    assert first["date"] == "2023-01-02T10:00:00+00:00" and first["id"] == rows["root@x"]

    lone = cli.ok("thread", str(rows["other@x"]), "--json").json()
    assert lone["count"] == 1 and lone["thread_id"] != tree["thread_id"]

    # ls --threads: one row per conversation, newest first.
    listed = cli.ok("ls", "--threads", "--json").json()
    assert [(t["subject"], t["messages"], t["unread"]) for t in listed] == [
        ("Lunch?", 1, 1), ("Plans", 5, 5)]
    plans = listed[1]
    assert plans["id"] == rows["r3@x"] and plans["date"] == "2023-01-02T10:40:00+00:00"
    assert plans["participants"] == ["Alice <alice@example.test>", "Bob <bob@example.test>",
                                     "Carol <carol@example.test>", "Dan <dan@example.test>"]
    table = cli.ok("ls", "--threads").out.splitlines()
    assert table[0].split() == ["id", "date", "msgs", "unread", "participants", "subject"]
    assert "Alice, Bob, Carol, Dan" in table[2] and table[2].endswith("Plans")
    # With a query: the threads that have a matching message.
    only = cli.ok("ls", "--threads", "from:dan", "--json").json()
    assert [t["subject"] for t in only] == ["Plans"]
    assert cli.ok("ls", "--threads", "--limit", "1", "--json").json()[0]["subject"] == "Lunch?"

    # thread:ID in the query language finds the whole conversation.
    found = {r["message_id"] for r in cli.ok("ls", f"thread:{rows['r2@x']}", "--json").json()}
    assert found == {"root@x", "r1@x", "r2@x", "r11@x", "r3@x"}
    found = {r["message_id"] for r in cli.ok("ls", f"thread:{rows['other@x']}", "--json").json()}
    assert found == {"other@x"}
    both = cli.ok("ls", f"thread:{rows['root@x']} from:bob", "--json").json()
    assert [r["message_id"] for r in both] == ["r1@x"]


@pytest.mark.parametrize("order", ["parent first", "child first"])
def test_arrival_order_does_not_matter(cli: Cli, tmp_path: Path, order: str) -> None:
    parent = eml("p@x", "Question", minutes=0)
    child = eml("c@x", "Re: Question", refs=["p@x"], irt="p@x", minutes=5)
    grandchild = eml("g@x", "Re: Question", irt="c@x", minutes=9)
    files = [parent, child, grandchild] if order == "parent first" else [
        grandchild, child, parent]
    for n, data in enumerate(files):  # separate imports: separate transactions
        (tmp_path / f"{n}.eml").write_bytes(data)
        cli.ok("import", str(tmp_path / f"{n}.eml"))
    rows = {r["message_id"]: r["id"] for r in cli.ok("ls", "--json").json()}
    tree = cli.ok("thread", str(rows["g@x"]), "--json").json()
    assert [shape(r) for r in tree["roots"]] == [
        ("p@x", False, [("c@x", False, [("g@x", False, [])])])]
    assert len(cli.ok("ls", "--threads", "--json").json()) == 1


def test_late_parent_merges_two_threads(cli: Cli, tmp_path: Path) -> None:
    """Replies to two different missing messages start two threads; a late message
    naming both links them: the threads merge and the smaller one is renumbered."""
    a = eml("a@x", "Re: T", irt="top@x", minutes=1)
    a2 = eml("a2@x", "Re: T", irt="a@x", minutes=2)
    b = eml("b@x", "Re: T", irt="mid@x", minutes=3)
    for n, data in enumerate([a, a2, b]):
        (tmp_path / f"{n}.eml").write_bytes(data)
        cli.ok("import", str(tmp_path / f"{n}.eml"))
    assert len(cli.ok("ls", "--threads", "--json").json()) == 2
    bigger = cli.ok("thread", "1", "--json").json()["thread_id"]
    # mid@x replies to top@x: it links both threads.
    (tmp_path / "mid.eml").write_bytes(eml("mid@x", "Re: T", refs=["top@x"], minutes=4))
    cli.ok("import", str(tmp_path / "mid.eml"))
    listed = cli.ok("ls", "--threads", "--json").json()
    assert len(listed) == 1 and listed[0]["messages"] == 4
    assert listed[0]["thread_id"] == bigger
    tree = cli.ok("thread", "3", "--json").json()
    assert [shape(r) for r in tree["roots"]] == [
        ("top@x", True, [("a@x", False, [("a2@x", False, [])]),
                         ("mid@x", False, [("b@x", False, [])])])]


def test_smtp_reply_joins_imported_thread(home: Path, cli: Cli, tmp_path: Path) -> None:
    (tmp_path / "p.eml").write_bytes(eml("p@x", "Deploy", minutes=0))
    cli.ok("import", str(tmp_path / "p.eml"))
    server = start_server(home)
    try:
        with smtplib.SMTP(server.host, server.port) as smtp:
            smtp.sendmail("bob@example.test", ["team@example.test"],
                          eml("q@x", "Re: Deploy", refs=["p@x"], irt="p@x", minutes=3))
        cli.ok("wait", "Deploy", "--count", "2", "--timeout", "20")
    finally:
        server.stop()
    tree = cli.ok("thread", "1", "--json").json()
    assert [shape(r) for r in tree["roots"]] == [("p@x", False, [("q@x", False, [])])]


def test_deleting_keeps_the_rest_of_the_thread(cli: Cli, tmp_path: Path) -> None:
    box = tmp_path / "plans.mbox"
    box.write_bytes(mbox(*PLANS))
    cli.ok("import", str(box))
    rows = {r["message_id"]: r["id"] for r in cli.ok("ls", "--json").json()}
    thread = cli.ok("thread", str(rows["root@x"]), "--json").json()["thread_id"]

    cli.ok("rm", str(rows["r1@x"]))  # r11 replies to it: it becomes a placeholder
    tree = cli.ok("thread", str(rows["r11@x"]), "--json").json()
    assert tree["thread_id"] == thread and tree["count"] == 4
    assert [shape(r) for r in tree["roots"]] == [
        ("root@x", False, [("r2@x", False, []), ("r1@x", True, [("r11@x", False, [])]),
                           ("gone@x", True, [("r3@x", False, [])])])]

    cli.ok("rm", str(rows["root@x"]))  # the root: everyone else stays together
    tree = cli.ok("thread", str(rows["r2@x"]), "--json").json()
    assert tree["thread_id"] == thread and tree["count"] == 3
    assert [shape(r) for r in tree["roots"]] == [
        ("root@x", True, [("r2@x", False, []), ("r1@x", True, [("r11@x", False, [])]),
                          ("gone@x", True, [("r3@x", False, [])])])]
    found = {r["message_id"] for r in cli.ok("ls", f"thread:{rows['r3@x']}", "--json").json()}
    assert found == {"r2@x", "r11@x", "r3@x"}

    # A late reply to the deleted root still finds the thread (its id is still named).
    (tmp_path / "late.eml").write_bytes(eml("late@x", "Re: Plans", irt="root@x", minutes=90))
    cli.ok("import", str(tmp_path / "late.eml"))
    assert len(cli.ok("ls", "--threads", "--json").json()) == 2

    cli.ok("rm", "--all", "--yes")
    assert cli.ok("ls", "--threads", "--json").json() == []
    with Store(cli.home / "mailops.db") as store:
        assert store.db.execute("SELECT count(*) FROM thread_ids").fetchone()[0] == 0
        assert store.db.execute("SELECT count(*) FROM thread_subjects").fetchone()[0] == 0


def test_subject_fallback_is_off_by_default_and_bounded_in_days(cli: Cli,
                                                                tmp_path: Path) -> None:
    def ingest(name: str, data: bytes) -> None:
        (tmp_path / name).write_bytes(data)
        cli.ok("import", str(tmp_path / name))

    ingest("a.eml", eml("a@x", "Quarterly report", minutes=0))
    ingest("b.eml", eml("b@x", "Re: Quarterly report", minutes=60))  # no references
    assert len(cli.ok("ls", "--threads", "--json").json()) == 2

    (cli.home / "config.toml").write_text("[threads]\nsubject_days = 7\n")
    assert {r["key"]: r["value"] for r in cli.ok("config", "show", "--json").json()}[
        "threads.subject_days"] == 7
    ingest("c.eml", eml("c@x", "RE: [team]  quarterly   REPORT", minutes=120))
    ingest("d.eml", eml("d@x", "Quarterly report", minutes=180))  # not a reply: own thread
    ingest("e.eml", eml("e@x", "Re: Quarterly report", minutes=60 * 24 * 30))  # too late
    listed = cli.ok("ls", "--threads", "--json").json()
    assert sorted(t["messages"] for t in listed) == [1, 1, 1, 2]
    rows = {r["message_id"]: r["id"] for r in cli.ok("ls", "--json").json()}
    # c joined the most recent thread with that subject (b's), under its start.
    tree = cli.ok("thread", str(rows["c@x"]), "--json").json()
    assert [shape(r) for r in tree["roots"]] == [("b@x", False, [("c@x", False, [])])]

    # Through the daemon too: serve records the setting where its indexer reads it.
    (cli.home / "config.toml").write_text("[threads]\nsubject_days = 60\n")
    server = start_server(cli.home)
    try:
        with smtplib.SMTP(server.host, server.port) as smtp:
            smtp.sendmail("x@example.test", ["team@example.test"],
                          eml("f@x", "Re: Quarterly report", minutes=60 * 24 * 31))
        cli.ok("wait", "--count", "6", "--timeout", "20")
    finally:
        server.stop()
    rows = {r["message_id"]: r["id"] for r in cli.ok("ls", "--json").json()}
    tree = cli.ok("thread", str(rows["f@x"]), "--json").json()
    assert [shape(r) for r in tree["roots"]] == [("e@x", False, [("f@x", False, [])])]


def test_subject_normalization() -> None:
    assert normalize_subject("Re: [dev] RE:  Plans  for  2027") == "plans for 2027"
    assert normalize_subject("AW: Sv: re[2]: Plans") == "plans"
    assert is_reply_subject("[dev] Re: x") and is_reply_subject("Re(3): x")
    assert not is_reply_subject("Regarding x") and not is_reply_subject("Plans")
    assert not is_reply_subject("Fwd: x")


def test_a_very_long_reply_chain_stays_printable() -> None:
    chain = [ThreadMessage(i, f"m{i}", [], f"m{i - 1}" if i else None, float(i), None,
                           "a@example.test", "s") for i in range(3000)]
    roots = build_tree(reversed(chain))
    shown = list(walk(roots))
    assert [n.message.id for _, n in shown if n.message] == list(range(3000))
    assert max(len(prefix) for prefix, _ in shown) == 3 * (MAX_DEPTH - 1)
    json.dumps([node_dict(r) for r in roots], indent=2)  # no RecursionError


@pytest.mark.parametrize("from_version", [1, 2])
def test_upgraded_store_threads_on_reindex(cli: Cli, from_version: int) -> None:
    """A store written before threading (schema 1 or 2) gets threads on upgrade."""
    path = cli.home / "mailops.db"
    db = sqlite3.connect(path, isolation_level=None)
    for migration in MIGRATIONS[:from_version]:
        for statement in migration.split(";"):
            if statement.strip():
                db.execute(statement)
    db.execute(f"PRAGMA user_version = {from_version}")
    cctx = zstandard.ZstdCompressor()
    for n, raw in enumerate(PLANS, 1):  # as the old indexer left them: indexed, no thread
        db.execute("INSERT INTO messages (id, received_at, size, sha256, indexed, subject)"
                   " VALUES (?, ?, ?, ?, 1, ?)", (n, 1.0e9 + n, len(raw), f"{n:064x}", "old"))
        db.execute("INSERT INTO bodies (id, raw) VALUES (?, ?)", (n, cctx.compress(raw)))
    db.close()
    with Store(path) as store:  # any writing command upgrades
        assert store.schema_version() == len(MIGRATIONS)
        assert store.pending_count() == len(PLANS)
    listed = cli.ok("ls", "--threads", "--json").json()  # catches up on the re-index
    assert [(t["subject"], t["messages"]) for t in listed] == [("Lunch?", 1), ("Plans", 5)]
    tree = cli.ok("thread", "1", "--json").json()
    assert [shape(r) for r in tree["roots"]] == [
        ("root@x", False, [("r1@x", False, [("r11@x", False, [])]), ("r2@x", False, []),
                           ("gone@x", True, [("r3@x", False, [])])])]


def test_thread_errors_and_help(cli: Cli) -> None:
    res = cli("thread", "42")
    assert res.code == 5 and res.err == "mailops: error: no message with id 42\n"
    assert "Example" in cli.ok("thread", "--help").out
    assert "--threads" in cli.ok("ls", "--help").out
    res = cli("ls", "--threads", "--sort", "oldest")
    assert res.code == 2 and res.err.startswith("mailops: error: --threads lists")
    assert len(res.err.splitlines()) == 1
    assert cli.ok("ls", "--threads").err == "no threads\n"


# -- order independence over random reply trees --------------------------------------

STYLES = ["full", "irt", "short", "refs-only"]


@st.composite
def reply_forests(draw: st.DrawFn) -> dict[str, Any]:
    """Up to 9 messages forming reply trees; some never arrive (placeholders); each
    names its ancestors in one of the ways real clients do."""
    n = draw(st.integers(1, 9))
    parents: list[int | None] = [None]
    for i in range(1, n):
        parents.append(draw(st.one_of(st.none(), st.integers(0, i - 1))))
    styles = [draw(st.sampled_from(STYLES)) for _ in range(n)]
    present = [i for i in range(n) if draw(st.integers(0, 3)) > 0] or [n - 1]
    return {"parents": parents, "styles": styles, "present": present,
            "orders": [draw(st.permutations(present)) for _ in range(2)],
            "cuts": [draw(st.lists(st.integers(1, 9), max_size=3)) for _ in range(2)],
            "smtp": draw(st.booleans()),
            "delete": draw(st.lists(st.sampled_from(present), unique=True))}


def _headers(forest: dict[str, Any], i: int) -> tuple[list[str], str | None]:
    chain: list[str] = []
    p = forest["parents"][i]
    while p is not None:
        chain.insert(0, f"m{p}@t")
        p = forest["parents"][p]
    if not chain:
        return [], None
    style = forest["styles"][i]
    if style == "full":
        return chain, chain[-1]
    if style == "irt":
        return [], chain[-1]
    if style == "short":
        return chain[-2:], chain[-1]
    return chain, None


def _raw(forest: dict[str, Any], i: int) -> bytes:
    refs, irt = _headers(forest, i)
    return eml(f"m{i}@t", "Re: x" if refs or irt else "x", refs=refs, irt=irt, minutes=i)


def _expected(forest: dict[str, Any], members: list[int]) -> set[frozenset[str]]:
    """Connected components: messages sharing any id (own, references, in-reply-to)."""
    parent: dict[str, str] = {}

    def find(x: str) -> str:
        while parent.setdefault(x, x) != x:
            x = parent[x]
        return x

    for i in members:
        refs, irt = _headers(forest, i)
        for other in [*refs, *([irt] if irt else [])]:
            parent[find(other)] = find(f"m{i}@t")
        find(f"m{i}@t")
    groups: dict[str, set[str]] = {}
    for i in members:
        groups.setdefault(find(f"m{i}@t"), set()).add(f"m{i}@t")
    return {frozenset(g) for g in groups.values()}


def _ingest(store: Store, forest: dict[str, Any], order: list[int], cuts: list[int]) -> None:
    """Store messages in `order`, in batches cut at `cuts`, by import or as SMTP does."""
    bounds = sorted({c for c in cuts if c < len(order)})
    for start, end in zip([0, *bounds], [*bounds, len(order)], strict=True):
        batch = [_raw(forest, i) for i in order[start:end]]
        if forest["smtp"]:
            store.add_raw([Incoming(raw) for raw in batch])
            while store.index_pending() > 0:
                continue
        else:
            store.add_parsed([(Incoming(raw, source="import"), summarize(raw)) for raw in batch])


def _partition(store: Store) -> set[frozenset[str]]:
    groups: dict[int, set[str]] = {}
    for mid, thread in store.db.execute("SELECT message_id, thread_id FROM messages"):
        assert thread is not None
        groups.setdefault(thread, set()).add(mid)
    return {frozenset(g) for g in groups.values()}


def _trees(store: Store) -> set[Any]:
    ids = [r[0] for r in store.db.execute("SELECT id FROM messages")]
    return {json.dumps([shape(r) for r in conversation(store, i).as_dict()["roots"]])
            for i in ids}


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(reply_forests())
def test_threads_do_not_depend_on_arrival_order(forest: dict[str, Any]) -> None:
    expected = _expected(forest, forest["present"])
    with tempfile.TemporaryDirectory() as tmp:
        results = []
        for n in range(2):
            with Store(Path(tmp) / f"{n}.db") as store:
                _ingest(store, forest, forest["orders"][n], forest["cuts"][n])
                assert _partition(store) == expected
                results.append(_trees(store))
        assert results[0] == results[1]

        # Deleting keeps every other message in its thread; re-adding restores it all.
        with Store(Path(tmp) / "0.db") as store:
            before = {mid: t for mid, t in store.db.execute(
                "SELECT message_id, thread_id FROM messages")}
            ids = {mid: i for i, mid in store.db.execute("SELECT id, message_id FROM messages")}
            store.delete(ids[f"m{i}@t"] for i in forest["delete"])
            after = {mid: t for mid, t in store.db.execute(
                "SELECT message_id, thread_id FROM messages")}
            assert after == {mid: t for mid, t in before.items() if mid in after}
            _ingest(store, forest, forest["delete"], [])
            assert _partition(store) == expected
