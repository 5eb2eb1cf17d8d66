"""Retention: count, age and size limits, scopes, config, crash safety, the daemon."""

from __future__ import annotations

import signal
import smtplib
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from conftest import Cli, Server
from serve_support import message, store_path

from mailops.retention import apply_retention, policy_from_flags

DAY = 86400.0


def _filler(size: int) -> str:
    """`size` characters of ordinary words (one 20 kB token would bloat the FTS index)."""
    return ("lorem ipsum dolor sit amet " * (size // 27 + 1))[:size]


def write_mbox(path: Path, ages_days: list[float], *, prefix: str = "msg",
               tags: str | None = None, body_bytes: int = 300) -> Path:
    """An mbox whose messages were delivered `ages_days` ago (the From_ line time)."""
    now = time.time()
    with open(path, "w", encoding="ascii") as fh:
        for i, age in enumerate(ages_days):
            when = time.strftime("%a %b %d %H:%M:%S %Y", time.gmtime(now - age * DAY))
            extra = f"X-Tags: {tags}\n" if tags else ""
            fh.write(f"From sender@example.test {when}\nFrom: s{i}@example.test\n"
                     f"To: r@example.test\nSubject: {prefix} {i}\n"
                     f"Message-ID: <{prefix}.{i}@example.test>\n{extra}\n"
                     f"body {i} {_filler(body_bytes)}\n\n")
    return path


def rows(cli: Cli) -> list[dict[str, Any]]:
    """Every stored message (ls --json), newest first."""
    return list(cli.ok("ls", "--json", "-n", "100000").json())


def subjects(cli: Cli) -> set[str]:
    return {r["subject"] for r in rows(cli)}


def apply(cli: Cli, *args: str) -> dict[str, Any]:
    out: dict[str, Any] = cli.ok("retention", "apply", *args, "--json").json()
    return out


def db_count(path: Path, table: str = "messages") -> int:
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as db:
        return int(db.execute(f"SELECT count(*) FROM {table}").fetchone()[0])


def test_count_age_and_size_limits_drop_the_oldest_first(cli: Cli, tmp_path: Path) -> None:
    # 20 messages, 19.5 days old down to 0.5 days old: "msg 0" is the oldest.
    ages = [19.5 - i for i in range(20)]
    cli.ok("import", str(write_mbox(tmp_path / "a.mbox", ages)))
    by_subject = {r["subject"]: r for r in rows(cli)}

    plan = apply(cli, "--max-messages", "15", "--dry-run")
    assert plan["dry_run"] is True and plan["messages"] == 5
    assert [i["subject"] for i in plan["items"]] == [f"msg {i}" for i in range(5)]
    assert {i["reason"] for i in plan["items"]} == {"max_messages"}
    assert len(rows(cli)) == 20  # a dry run changes nothing

    done = apply(cli, "--max-age", "15d")
    gone = [f"msg {i}" for i in range(5)]  # 19.5 .. 15.5 days old
    assert done["messages"] == 5
    assert done["raw_bytes"] == sum(by_subject[s]["size"] for s in gone)
    assert done["rules"] == [{"scope": "all", "max_messages": None, "max_age": "15d",
                              "max_size": None, "messages": 5,
                              "raw_bytes": done["raw_bytes"]}]
    assert subjects(cli) == {f"msg {i}" for i in range(5, 20)}

    assert apply(cli, "--max-messages", "10")["messages"] == 5
    assert subjects(cli) == {f"msg {i}" for i in range(10, 20)}

    newest4 = sum(by_subject[f"msg {i}"]["size"] for i in range(16, 20))
    done = apply(cli, "--max-size", str(newest4))
    assert done["messages"] == 6 and {i["subject"] for i in rows(cli)} == {
        f"msg {i}" for i in range(16, 20)}
    # Nothing left to do: a second run is a no-op.
    assert apply(cli, "--max-size", str(newest4))["messages"] == 0


def test_dry_run_lists_what_would_go(cli: Cli, tmp_path: Path) -> None:
    cli.ok("import", str(write_mbox(tmp_path / "a.mbox", [40, 35, 1])))
    res = cli.ok("retention", "apply", "--max-age", "30d", "--dry-run")
    assert "msg 0" in res.out and "msg 1" in res.out and "msg 2" not in res.out
    assert "all: max_age" in res.out
    assert "would delete 2 message(s)" in res.out
    assert len(rows(cli)) == 3
    res = cli.ok("retention", "apply", "--max-age", "30d")
    assert res.out.startswith("deleted 2 message(s)") and "freed" in res.out
    assert subjects(cli) == {"msg 2"}


def test_folder_and_tag_scopes(cli: Cli, tmp_path: Path) -> None:
    cli.ok("import", str(write_mbox(tmp_path / "plain.mbox", [50, 40, 30, 20], prefix="plain")))
    cli.ok("import", str(write_mbox(tmp_path / "ci.mbox", [9, 8, 7, 6, 5], prefix="ci",
                                    tags="ci")))
    cli.ok("import", str(write_mbox(tmp_path / "junk.mbox", [60, 3, 2], prefix="junk",
                                    tags="junk")))
    cli.ok("mv", "tag:junk", "Spam")

    done = apply(cli, "--tag", "CI", "--max-messages", "2")  # tags are case-blind
    assert done["messages"] == 3 and done["rules"][0]["scope"] == "tag=CI"
    left = subjects(cli)
    assert {"ci 3", "ci 4"} <= left and not {"ci 0", "ci 1", "ci 2"} & left
    assert {f"plain {i}" for i in range(4)} <= left  # other scopes untouched

    done = apply(cli, "--folder", "spam", "--max-age", "10d")
    assert done["messages"] == 1 and "junk 0" not in subjects(cli)
    assert {f"plain {i}" for i in range(4)} <= subjects(cli)  # older, but not in Spam

    res = cli("retention", "apply", "--folder", "Spam", "--tag", "ci", "--max-age", "1d")
    assert res.code == 2 and "not both" in res.err


def test_config_policy_with_rules(cli: Cli, home: Path, tmp_path: Path) -> None:
    (home / "config.toml").write_text(
        '[retention]\nmax_messages = 6\n\n'
        '[[retention.rules]]\nfolder = "Spam"\nmax_age = "7d"\n\n'
        '[[retention.rules]]\ntag = "ci"\nmax_messages = 1\n')
    cli.ok("import", str(write_mbox(tmp_path / "plain.mbox", [50, 40, 30, 20, 10, 1],
                                    prefix="plain")))
    cli.ok("import", str(write_mbox(tmp_path / "ci.mbox", [3, 2], prefix="ci", tags="ci")))
    cli.ok("import", str(write_mbox(tmp_path / "junk.mbox", [8, 0.5], prefix="junk",
                                    tags="junk")))
    cli.ok("mv", "tag:junk", "Spam")

    shown = cli.ok("retention", "show", "--json").json()
    assert [r["scope"] for r in shown["rules"]] == ["folder=Spam", "tag=ci", "all"]
    assert shown["interval"] == "1h"

    # Only the Spam rule.
    assert apply(cli, "--folder", "Spam")["messages"] == 1
    assert "junk 0" not in subjects(cli)
    # Everything, scoped rules first: the ci rule drops "ci 0"; then 8 are left and
    # the global limit (6) drops the two oldest of all, "plain 0" and "plain 1".
    done = apply(cli)
    assert {r["scope"]: r["messages"] for r in done["rules"]} == {
        "folder=Spam": 0, "tag=ci": 1, "all": 2}
    assert subjects(cli) == {"junk 1", "plain 5", "ci 1", "plain 4", "plain 3", "plain 2"}


@pytest.mark.parametrize("text,needle", [
    ('[retention]\nmax_age = "30 days"\n', "retention.max_age"),
    ('[retention]\nmax_size = "lots"\n', "retention.max_size"),
    ('[retention]\nmax_messages = 0\n', "retention.max_messages"),
    ('[retention]\nkeep = 3\n', "unknown key 'retention.keep'"),
    ('[[retention.rules]]\nfolder = "A"\nmax_age = "1d"\n'
     '[[retention.rules]]\nfolder = "B"\nmax_age = "1q"\n', "retention.rules[2].max_age"),
    ('[[retention.rules]]\nfolder = "A"\ntag = "b"\nmax_age = "1d"\n',
     "retention.rules[1]"),
    ('[[retention.rules]]\ntag = "b"\n', "give max_messages, max_age or max_size"),
    ('[[retention.rules]]\ntag = "b"\nmax_mesages = 3\n', "unknown key 'max_mesages'"),
])
def test_bad_retention_config_names_the_entry(cli: Cli, home: Path, text: str,
                                              needle: str) -> None:
    (home / "config.toml").write_text(text)
    res = cli("retention", "show")
    assert res.code == 3, res.err
    assert needle in res.err and len(res.err.strip().splitlines()) == 1
    assert "Traceback" not in res.err


def test_usage_errors(cli: Cli) -> None:
    res = cli("retention", "apply")
    assert res.code == 2 and "no retention policy" in res.err
    res = cli("retention", "apply", "--max-age", "3 fortnights")
    assert res.code == 2 and "--max-age: expected a duration" in res.err
    res = cli("retention", "apply", "--max-size", "-5")
    assert res.code == 2 and len(res.err.strip().splitlines()) == 1


def _integrity(path: Path) -> None:
    """The store is consistent: SQLite's check, the FTS index, rows vs bodies vs tags."""
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        db.execute("INSERT INTO texts_fts(texts_fts) VALUES ('integrity-check')")
        n = db.execute("SELECT count(*) FROM messages").fetchone()[0]
        assert db.execute("SELECT count(*) FROM bodies").fetchone()[0] == n
        assert db.execute("SELECT count(*) FROM texts WHERE id NOT IN"
                          " (SELECT id FROM messages)").fetchone()[0] == 0
        assert db.execute("SELECT count(*) FROM tags WHERE msg_id NOT IN"
                          " (SELECT id FROM messages)").fetchone()[0] == 0


def test_sigkill_mid_run_leaves_a_consistent_store_the_next_run_finishes(
        cli: Cli, home: Path, tmp_path: Path) -> None:
    total, keep = 3000, 500
    ages = [30 - i * 0.001 for i in range(total)]  # "msg 0" oldest, all distinct
    cli.ok("import", str(write_mbox(tmp_path / "big.mbox", ages, tags="bulk",
                                    body_bytes=2000)), timeout=180)
    path = store_path(home)
    assert db_count(path) == total
    proc = subprocess.Popen([sys.executable, "-m", "mailops.commands", "retention", "apply",
                             "--max-messages", str(keep), "--batch-size", "10"],
                            env=cli.env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while db_count(path) > total - 300:  # well into the run, far from its end
        assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
        assert time.monotonic() < deadline
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    assert proc.wait(timeout=30) == -signal.SIGKILL
    mid = db_count(path)
    assert keep < mid <= total - 300

    _integrity(path)
    with sqlite3.connect(path) as db:  # the oldest went first
        oldest_left = db.execute("SELECT min(received_at) FROM messages").fetchone()[0]
        assert db.execute("SELECT count(*) FROM messages WHERE received_at > ?",
                          (oldest_left,)).fetchone()[0] == mid - 1

    done = apply(cli, "--max-messages", str(keep))
    assert done["messages"] == mid - keep and done["complete"] is True
    assert done["vacuum"] == "incremental" and done["file_bytes_freed"] > 0
    _integrity(path)
    left = subjects(cli)
    assert left == {f"msg {i}" for i in range(total - keep, total)}
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA freelist_count").fetchone()[0] == 0
        assert db.execute("SELECT count(*) FROM tags").fetchone()[0] == keep


def test_retention_beside_a_running_daemon(cli: Cli, home: Path, server: Server,
                                           tmp_path: Path) -> None:
    ages = [10 - i * 0.001 for i in range(1500)]
    cli.ok("import", str(write_mbox(tmp_path / "old.mbox", ages)), timeout=120)
    sent: list[str] = []
    failures: list[BaseException] = []
    stop = threading.Event()

    def stream() -> None:
        try:
            with smtplib.SMTP(server.host, server.port, timeout=30) as smtp:
                while not stop.is_set() or len(sent) < 5:
                    subject = f"live {len(sent)}"
                    smtp.sendmail("a@example.test", ["b@example.test"], message(subject))
                    sent.append(subject)
        except BaseException as exc:  # reported below
            failures.append(exc)

    sender = threading.Thread(target=stream)
    sender.start()
    try:
        done = apply(cli, "--max-messages", "1000", "--batch-size", "20")
    finally:
        stop.set()
        sender.join(timeout=60)
    assert not failures, failures
    assert done["messages"] >= 500
    cli.ok("wait", "--count", "1", "live*")
    left = subjects(cli)
    assert set(sent) <= left  # every acknowledged message is still there
    assert apply(cli, "--max-messages", "1000")["complete"] is True
    assert len(rows(cli)) == 1000 and set(sent) <= subjects(cli)
    _integrity(store_path(home))


def test_old_store_is_converted_to_incremental_vacuum(cli: Cli, home: Path,
                                                      tmp_path: Path) -> None:
    cli.ok("import", str(write_mbox(tmp_path / "a.mbox", [5, 4, 3, 2, 1], body_bytes=20000)))
    path = store_path(home)
    with sqlite3.connect(path, isolation_level=None) as db:  # as stores were made before
        db.execute("PRAGMA auto_vacuum = NONE")
        db.execute("VACUUM")
        assert db.execute("PRAGMA auto_vacuum").fetchone()[0] == 0
    db.close()

    kept = apply(cli, "--max-messages", "3", "--no-vacuum")
    assert kept["messages"] == 2 and kept["vacuum"] == "none"
    done = apply(cli, "--max-messages", "2")
    assert done["messages"] == 1 and done["vacuum"] == "converted"
    assert done["file_bytes_freed"] > 0
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA auto_vacuum").fetchone()[0] == 2
    db.close()
    _integrity(path)
    # From now on space comes back in small steps, also after `rm`.
    cli.ok("rm", "--all", "--yes")
    res = cli.ok("store", "vacuum", "--json").json()
    assert res["vacuum"] == "incremental" and res["file_bytes_freed"] > 0


def test_new_stores_use_incremental_vacuum(cli: Cli, home: Path, tmp_path: Path) -> None:
    cli.ok("import", str(write_mbox(tmp_path / "a.mbox", [1])))
    with sqlite3.connect(store_path(home)) as db:
        assert db.execute("PRAGMA auto_vacuum").fetchone()[0] == 2
    db.close()


def test_engine_function_from_a_thread_and_stop(cli: Cli, home: Path, tmp_path: Path) -> None:
    cli.ok("import", str(write_mbox(tmp_path / "a.mbox", [i + 0.5 for i in range(30, 0, -1)])))
    path = store_path(home)
    stop = threading.Event()
    stop.set()  # stops after the first batch
    out: list[Any] = []
    worker = threading.Thread(target=lambda: out.append(apply_retention(
        path, policy_from_flags(max_messages=5), batch_size=4, stop=stop)))
    worker.start()
    worker.join(timeout=60)
    first = out[0]
    assert first.messages == 4 and first.complete is False
    assert db_count(path) == 26
    second = apply_retention(path, policy_from_flags(max_messages=5))
    assert second.messages == 21 and second.complete is True
    assert db_count(path) == 5
    # A missing store is nothing to do, not an error.
    assert apply_retention(tmp_path / "none.db", policy_from_flags(max_age="1d")).messages == 0


def test_the_daemon_applies_retention_on_its_schedule(home: Path) -> None:
    """serve runs the configured policy by itself every retention.interval."""
    import smtplib

    from conftest import Cli, start_server

    (home / "config.toml").write_text('[retention]\nmax_messages = 2\ninterval = "1s"\n')
    srv = start_server(home)
    try:
        with smtplib.SMTP(srv.host, srv.port) as smtp:
            for i in range(5):
                smtp.sendmail("a@example.test", ["b@example.test"],
                              f"Subject: keep {i}\r\n\r\nbody\r\n".encode())
        cli = Cli(home)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            subjects = [r["subject"] for r in cli.ok("ls", "--json").json()]
            if len(subjects) == 2:
                break
            time.sleep(0.5)
        assert subjects == ["keep 4", "keep 3"]
    finally:
        assert srv.stop() == 0
    assert "retention messages=" in srv.log_text()
