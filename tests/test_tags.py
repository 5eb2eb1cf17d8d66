"""Tags, folders, flags and auto-tagging, through the real CLI, store and daemon."""

from __future__ import annotations

import smtplib
import time
from pathlib import Path

from conftest import Cli, start_server

from mailops.store import Store


def _eml(folder: Path, name: str, *, sender: str = "a@example.test",
         to: str = "me@example.test", subject: str = "hello", extra: str = "",
         body: str = "body text") -> Path:
    path = folder / f"{name}.eml"
    path.write_bytes((f"From: {sender}\r\nTo: {to}\r\nSubject: {subject}\r\n"
                      f"Message-ID: <{name}@example.test>\r\n{extra}\r\n{body}\r\n").encode())
    return path


def _import_three(cli: Cli, tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    _eml(src, "m1", sender="ci@github.com", subject="build failed")
    _eml(src, "m2", sender="noreply@github.com", subject="review requested")
    _eml(src, "m3", sender="boss@corp.test", subject="budget")
    cli.ok("import", str(src))


def _ids(cli: Cli, query: str) -> list[int]:
    return sorted(r["id"] for r in cli.ok("ls", query, "--json").json())


def _subjects(cli: Cli, query: str) -> set[str]:
    return {r["subject"] for r in cli.ok("ls", query, "--json").json()}


def test_tag_and_untag_by_query(cli: Cli, tmp_path: Path) -> None:
    _import_three(cli, tmp_path)
    res = cli.ok("tag", "from:github.com", "+dev", "+GitHub", "--json").json()
    assert res["matched"] == 2 and res["changed"] == 2
    assert res["added"] == {"dev": 2, "github": 2}
    assert _subjects(cli, "tag:dev") == {"build failed", "review requested"}
    assert _subjects(cli, "tag:DEV") == _subjects(cli, "tag:dev")  # case-insensitive
    # Rows carry sorted tags and the flag booleans.
    row = next(r for r in cli.ok("ls", "--json").json() if r["subject"] == "build failed")
    assert row["tags"] == ["dev", "github"]
    assert (row["read"], row["flagged"], row["replied"], row["flags"]) == (
        False, False, False, [])
    assert cli.ok("search", "budget", "--json").json()[0]["tags"] == []

    # Again: nothing changes; the count says so.
    out = cli.ok("tag", "from:github.com", "+dev").out
    assert out.startswith("changed 0 message(s) of 2 matching")
    # A removal written as -TAG (not an option), mixed with an addition.
    res = cli.ok("tag", "subject:build", "-github", "+ci", "--json").json()
    assert res["changed"] == 1 and res["removed"] == {"github": 1} and res["added"] == {"ci": 1}
    assert _subjects(cli, "tag:github") == {"review requested"}
    assert _subjects(cli, "tag:dev -tag:ci") == {"review requested"}

    # --dry-run counts without changing anything.
    res = cli.ok("tag", "tag:dev", "-dev", "--dry-run", "--json").json()
    assert res["dry_run"] and res["changed"] == 2
    assert len(_ids(cli, "tag:dev")) == 2
    assert "would change 2 message(s)" in cli.ok("tag", "tag:dev", "-dev", "--dry-run").out

    listing = cli.ok("tags", "--json").json()
    assert listing == [{"tag": "ci", "count": 1, "unread": 1},
                       {"tag": "dev", "count": 2, "unread": 2},
                       {"tag": "github", "count": 1, "unread": 1}]
    assert cli.ok("tag", "--list", "--json").json() == listing
    assert "dev" in cli.ok("tags").out

    # Deleting a message drops its tags from the counts.
    cli.ok("rm", str(_ids(cli, "tag:ci")[0]))
    assert {t["tag"]: t["count"] for t in cli.ok("tags", "--json").json()} == {
        "dev": 1, "github": 1}


def test_mv_and_folders(cli: Cli, tmp_path: Path) -> None:
    _import_three(cli, tmp_path)
    assert cli.ok("folders", "--json").json() == [{"folder": "INBOX", "total": 3, "unread": 3}]
    res = cli.ok("mv", "from:github.com", "Dev", "--json").json()
    assert (res["matched"], res["changed"], res["folder"], res["created"]) == (2, 2, "Dev", True)
    assert _subjects(cli, "folder:Dev") == {"build failed", "review requested"}
    assert _subjects(cli, "folder:dev") == _subjects(cli, "folder:Dev")
    assert _subjects(cli, "folder:INBOX") == {"budget"}
    assert {r["folder"] for r in cli.ok("ls", "from:github.com", "--json").json()} == {"Dev"}
    # Another spelling of an existing folder means that folder.
    res = cli.ok("mv", "subject:budget", "DEV", "--json").json()
    assert (res["folder"], res["created"], res["changed"]) == ("Dev", False, 1)
    cli.ok("mark", "subject:budget", "read")
    assert cli.ok("folders", "--json").json() == [
        {"folder": "INBOX", "total": 0, "unread": 0},
        {"folder": "Dev", "total": 3, "unread": 2}]
    out = cli.ok("mv", "folder:Dev", "inbox").out
    assert out.startswith("changed 3 message(s) of 3 matching (to INBOX")
    assert "Dev" not in cli.ok("folders").out


def test_mark_flags(cli: Cli, tmp_path: Path) -> None:
    _import_three(cli, tmp_path)
    res = cli.ok("mark", "from:github.com", "read", "--json").json()
    assert (res["matched"], res["changed"], res["mark"]) == (2, 2, "read")
    assert _subjects(cli, "is:unread") == {"budget"}
    assert len(_ids(cli, "is:read")) == 2
    assert cli.ok("mark", "from:github.com", "read").out.startswith("changed 0 message(s)")
    cli.ok("mark", "subject:budget", "flagged")
    cli.ok("mark", "subject:budget", "replied")
    row = cli.ok("ls", "subject:budget", "--json").json()[0]
    assert (row["read"], row["flagged"], row["replied"]) == (False, True, True)
    assert row["flags"] == ["flagged", "replied"]
    assert _subjects(cli, "is:flagged") == {"budget"}
    assert _subjects(cli, "is:replied") == {"budget"}
    cli.ok("mark", "is:flagged", "unflagged")
    cli.ok("mark", "subject:budget", "unreplied")
    assert _ids(cli, "is:flagged") == [] and _ids(cli, "is:replied") == []
    res = cli.ok("mark", "is:read", "unread", "--dry-run", "--json").json()
    assert res["changed"] == 2 and res["dry_run"]
    assert len(_ids(cli, "is:read")) == 2
    # Flags travel into maildir exports (S for seen).
    out = tmp_path / "md"
    cli.ok("export", "is:read", "--to", str(out), "--format", "maildir")
    assert all(p.name.endswith(":2,S") for p in (out / "cur").iterdir())


def test_bad_input_is_one_line(cli: Cli, tmp_path: Path) -> None:
    _import_three(cli, tmp_path)
    for args, words in (
        (("tag", "from:github.com", "+bad tag"), "contains a space"),
        (("tag", "from:github.com", "+a:b"), "not valid"),
        (("tag", "from:github.com", "+"), "cannot be empty"),
        (("tag", "from:github.com", "dev"), "write +dev"),
        (("tag", "from:github.com", "+dev", "-DEV"), "both added and removed"),
        (("tag", "from:github.com"), "at least one +TAG"),
        (("tag", "from:(", "+x"), "query syntax error"),
        (("mark", "from:github.com", "seen"), "expected one of read, unread"),
        (("mv", "from:github.com", "  "), "folder name cannot be empty"),
        (("mv", "", "Dev"), "give a query"),
    ):
        res = cli(*args)
        assert res.code == 2, (args, res.code, res.err)
        assert res.err.startswith("mailops: error: ") and res.err.count("\n") == 1, res.err
        assert words in res.err, (args, res.err)
    assert cli.ok("tags", "--json").json() == []  # nothing was half-applied


def test_unknown_tags_and_folders(cli: Cli, tmp_path: Path) -> None:
    _import_three(cli, tmp_path)
    assert cli.ok("ls", "tag:nosuch", "--json").json() == []
    assert cli.ok("ls", "folder:Nowhere", "--json").json() == []
    res = cli.ok("tag", "tag:nosuch", "+x", "--json").json()
    assert (res["matched"], res["changed"]) == (0, 0)
    res = cli.ok("tag", "from:github.com", "-nosuch", "--json").json()
    assert (res["matched"], res["changed"], res["removed"]) == (2, 0, {"nosuch": 0})
    res = cli.ok("mv", "folder:Nowhere", "Elsewhere", "--json").json()
    assert (res["changed"], res["created"]) == (0, False)
    assert [f["folder"] for f in cli.ok("folders", "--json").json()] == ["INBOX"]
    assert cli.ok("mark", "tag:nosuch", "read").out.startswith("changed 0 message(s) of 0")


def test_plus_addressing_and_x_tags_at_import(cli: Cli, tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    _eml(src, "p1", to="Me <me+Alerts@example.test>, other@example.test",
         extra="Cc: list+weekly.digest@example.test\r\n")
    _eml(src, "p2", extra="X-Tags: Billing, q3  urgent,bad:tag\r\n")
    _eml(src, "p3", to="me+@example.test, a+b+c@example.test")
    cli.ok("import", str(src))
    tags = {r["message_id"]: r["tags"] for r in cli.ok("ls", "--json").json()}
    assert tags["p1@example.test"] == ["alerts", "weekly.digest"]
    assert tags["p2@example.test"] == ["billing", "q3", "urgent"]  # bad:tag skipped
    assert tags["p3@example.test"] == []  # empty "me+", and "b+c" is no valid tag
    assert _subjects(cli, "tag:Alerts tag:weekly.digest") == {"hello"}


def test_plus_addressing_can_be_switched_off(cli: Cli, home: Path, tmp_path: Path) -> None:
    (home / "config.toml").write_text("[tags]\nplus_addressing = false\nx_tags = false\n")
    src = tmp_path / "src"
    src.mkdir()
    _eml(src, "q1", to="me+alerts@example.test", extra="X-Tags: billing\r\n")
    cli.ok("import", str(src))
    assert cli.ok("ls", "--json").json()[0]["tags"] == []


RULES = """
[[rules]]
query = "from:github.com"
tags = ["dev", "GitHub"]
folder = "Dev"

[[rules]]
name = "urgent builds"
query = 'tag:dev subject:"build failed"'
tags = ["urgent"]
folder = "Urgent"

[[rules]]
query = "from:corp.test"
folder = "Work"
"""


def test_rules_at_import_and_in_config_show(cli: Cli, home: Path, tmp_path: Path) -> None:
    (home / "config.toml").write_text(RULES)
    _import_three(cli, tmp_path)
    rows = {r["subject"]: r for r in cli.ok("ls", "--json").json()}
    assert rows["build failed"]["tags"] == ["dev", "github", "urgent"]
    assert rows["build failed"]["folder"] == "Urgent"  # the last matching folder wins
    assert rows["review requested"]["tags"] == ["dev", "github"]
    assert rows["review requested"]["folder"] == "Dev"
    assert (rows["budget"]["tags"], rows["budget"]["folder"]) == ([], "Work")
    shown = {r["key"]: r for r in cli.ok("config", "show", "--json").json()}
    assert shown["rules[2]"]["value"] == ('tag:dev subject:"build failed" -> +urgent '
                                         'folder=Urgent')
    assert shown["rules[2]"]["help"] == "auto-tagging rule (urgent builds)"
    assert shown["rules[3]"]["source"].endswith("config.toml")
    assert shown["send.timeout"]["value"] == 30  # the flat keys are still there
    assert "rules[1]" in cli.ok("config", "show").out


def test_bad_rule_is_a_config_error(cli: Cli, home: Path) -> None:
    for text, words in (
        ('[[rules]]\nquery = "from:github.com ("\ntags = ["dev"]\n', "rule 1: bad query"),
        ('[[rules]]\nquery = "a"\ntags = ["x"]\n[[rules]]\nname = "n"\nquery = "is:nope"\n'
         'tags = ["y"]\n', "rule 2 (n): bad query 'is:nope'"),
        ('[[rules]]\nquery = "a"\ntags = ["no good"]\n', "rule 1: tag 'no good' contains"),
        ('[[rules]]\nquery = "a"\n', "give tags, a folder or both"),
        ('[[rules]]\nquery = "a"\ntag = ["x"]\n', "unknown key 'tag'"),
        ('[rules]\nquery = "a"\n', "array of tables"),
    ):
        (home / "config.toml").write_text(text)
        for args in (("ls",), ("config", "show"), ("serve", "--listen", "127.0.0.1:0")):
            res = cli(*args, timeout=30)
            assert res.code == 3, (text, args, res.code, res.err)
            assert res.err.startswith("mailops: error: ") and res.err.count("\n") == 1
            assert "config.toml" in res.err and words in res.err, res.err


def _wait_indexed(store_file: Path, count: int, timeout: float = 20) -> None:
    """Poll the store read-only until the daemon's own indexer has done `count`
    messages (the CLI would index pending mail itself, hiding the daemon's work)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if store_file.exists():
            with Store(store_file, readonly=True) as store:
                if store.count() >= count and store.pending_count() == 0:
                    return
        time.sleep(0.05)
    raise AssertionError("the daemon did not index the messages in time")


def test_rules_apply_to_mail_received_by_serve(home: Path, cli: Cli) -> None:
    (home / "config.toml").write_text(RULES)
    server = start_server(home)
    try:
        with smtplib.SMTP(server.host, server.port) as smtp:
            smtp.sendmail("ci@github.com", ["me@example.test"],
                          b"From: ci@github.com\r\nTo: me@example.test\r\n"
                          b"Subject: build failed\r\nMessage-ID: <s1@x>\r\n\r\nred\r\n")
            # Plus-addressing in the envelope only (the header says otherwise).
            smtp.sendmail("boss@corp.test", ["me+Payroll@example.test"],
                          b"From: boss@corp.test\r\nTo: team@example.test\r\n"
                          b"X-Tags: hr\r\nSubject: salaries\r\nMessage-ID: <s2@x>\r\n\r\nx\r\n")
        _wait_indexed(home / "mailops.db", 2)
    finally:
        assert server.stop() == 0
    rows = {r["message_id"]: r for r in cli.ok("ls", "--json").json()}
    assert rows["s1@x"]["tags"] == ["dev", "github", "urgent"]
    assert rows["s1@x"]["folder"] == "Urgent"
    assert rows["s2@x"]["tags"] == ["hr", "payroll"]
    assert rows["s2@x"]["folder"] == "Work"
    assert _ids(cli, "tag:payroll folder:work") == [rows["s2@x"]["id"]]
    folders = {f["folder"]: f["total"] for f in cli.ok("folders", "--json").json()}
    assert folders == {"INBOX": 0, "Urgent": 1, "Work": 1}


def test_serve_with_home_flag_applies_rules(tmp_path: Path) -> None:
    """`--home DIR` (no MAILOPS_HOME): the indexer child still finds the rules."""
    import os
    import subprocess
    import sys

    home = tmp_path / "flaghome"
    home.mkdir()
    (home / "config.toml").write_text(RULES)
    pidfile = home / "serve.pid"
    env = {k: v for k, v in os.environ.items() if k != "MAILOPS_HOME"}
    proc = subprocess.Popen([sys.executable, "-m", "mailops.commands", "--home", str(home),
                             "serve", "--listen", "127.0.0.1:0", "--pidfile", str(pidfile)],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 30
        while not (pidfile.exists() and len(pidfile.read_text().split()) >= 2):
            assert proc.poll() is None and time.monotonic() < deadline
            time.sleep(0.02)
        host, _, port = pidfile.read_text().split()[1].rpartition(":")
        with smtplib.SMTP(host, int(port)) as smtp:
            smtp.sendmail("x@github.com", ["me@example.test"],
                          b"From: x@github.com\r\nSubject: pr\r\n\r\nhi\r\n")
        _wait_indexed(home / "mailops.db", 1)
    finally:
        proc.terminate()
        assert proc.wait(timeout=30) == 0
    with Store(home / "mailops.db", readonly=True) as store:
        row = store.list(None)[0]
    assert (row["tags"], row["folder"]) == (["dev", "github"], "Dev")
