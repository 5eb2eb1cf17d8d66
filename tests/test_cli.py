"""The CLI as a user meets it: help, errors, listing, waiting, deleting."""

from __future__ import annotations

import json
import re
import smtplib
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT, Cli, Server

COMMANDS = [["serve"], ["ls"], ["search"], ["count"], ["show"], ["rm"], ["wait"], ["send"],
            ["import"], ["export"], ["doctor"], ["config", "show"], ["config", "path"]]


def _send(server: Server, subject: str, body: str = "hello", to: str = "dev@example.test") -> None:
    msg = (f"From: app@example.test\r\nTo: {to}\r\nSubject: {subject}\r\n\r\n{body}\r\n")
    with smtplib.SMTP(server.host, server.port) as smtp:
        smtp.sendmail("app@example.test", [to], msg.encode())


def _all_commands() -> list[list[str]]:
    """Every leaf command of the CLI, walked from the Typer app (so none is missed)."""
    import typer
    from mailops.commands.main import app

    def walk(cmd: object, path: list[str]) -> list[list[str]]:
        subs = getattr(cmd, "commands", None)
        if not subs:
            return [path]
        return [p for name, sub in sorted(subs.items()) for p in walk(sub, [*path, name])]

    return walk(typer.main.get_command(app), [])


def test_command_list_is_complete() -> None:
    assert {" ".join(c) for c in COMMANDS} <= {" ".join(c) for c in _all_commands()}


@pytest.mark.parametrize("command", _all_commands(), ids=" ".join)
def test_every_command_has_help_with_an_example(cli: Cli, command: list[str]) -> None:
    out = cli.ok(*command, "--help").out
    assert re.search(r"Examples?:", out), out
    assert "mailops " in out.split("Example", 1)[1]


def test_docs_mention_every_command() -> None:
    text = (ROOT / "docs" / "cli.md").read_text()
    for command in _all_commands():
        assert f"mailops {' '.join(command)}" in text, command


@pytest.mark.parametrize("args,code,needle", [
    (["ls", "--nope"], 2, "No such option: --nope"),
    (["show", "abc"], 2, "Invalid value for 'ID'"),
    (["show", "42"], 5, "no message with id 42"),
    (["nosuchcommand"], 2, "No such command"),
    (["ls", "--limit", "0"], 2, "--limit"),
    (["ls", "--json", "--csv"], 2, "exclude each other"),
    (["rm"], 2, "say what to delete"),
    (["serve", "--listen", "nonsense"], 2, "expected HOST:PORT"),
    (["serve", "--chaos", "rcpt:999"], 2, "STAGE:CODE:PERCENT"),
    (["wait", "--timeout", "0.3"], 8, "timed out after 0.3s"),
])
def test_errors_are_one_line_with_documented_codes(cli: Cli, args: list[str], code: int,
                                                   needle: str) -> None:
    res = cli(*args)
    assert res.code == code, res.err
    lines = res.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("mailops: error: "), res.err
    assert needle in lines[0]
    assert "Traceback" not in res.err


def test_ls_formats_and_paging(server: Server, cli: Cli) -> None:
    for i in range(5):
        _send(server, f"note {i}")
    rows = cli.ok("ls", "--json", "--limit", "2").json()
    assert [r["subject"] for r in rows] == ["note 4", "note 3"]
    for key in ("id", "message_id", "date", "from", "to", "subject", "size"):
        assert key in rows[0]
    more = cli.ok("ls", "--json", "--limit", "10", "--before-id", str(rows[-1]["id"])).json()
    assert [r["subject"] for r in more] == ["note 2", "note 1", "note 0"]
    csv_out = cli.ok("ls", "--csv").out.splitlines()
    assert csv_out[0] == "id,date,from,to,subject,size"
    assert len(csv_out) == 6
    table = cli.ok("ls").out
    assert "note 4" in table and "app@example.test" in table
    assert "\x1b[" not in table  # no colour codes when not a TTY


def test_wait_returns_when_the_message_arrives(server: Server, cli: Cli) -> None:
    _send(server, "old signup")
    # The default counts messages already stored: CI triggers the app, then waits.
    assert cli("wait", "signup", "--timeout", "5").code == 0
    # --new ignores what is already there
    assert cli("wait", "signup", "--new", "--timeout", "0.5").code == 8
    # --after-id waits for a later arrival, deterministically
    last = cli.ok("ls", "--json").json()[0]["id"]
    proc = subprocess.Popen([sys.executable, "-m", "mailops.commands", "wait", "welcome",
                             "--after-id", str(last), "--timeout", "60", "--json"],
                            env=cli.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    _send(server, "signup again")  # matches no "welcome"
    _send(server, "Welcome aboard", "confirm link")
    out, err = proc.communicate(timeout=70)
    assert proc.returncode == 0, err
    assert [r["subject"] for r in json.loads(out)] == ["Welcome aboard"]


def test_wait_before_the_store_exists(home: Path) -> None:
    env = {"MAILOPS_HOME": str(home / "fresh")}
    res = subprocess.run([sys.executable, "-m", "mailops.commands", "wait", "--timeout", "0.5"],
                         capture_output=True, text=True, env={**__import__("os").environ, **env})
    assert res.returncode == 8
    assert res.stderr.startswith("mailops: error: timed out")


def test_rm_by_id_query_and_all(server: Server, cli: Cli) -> None:
    for s in ("keep me", "drop one", "drop two", "other"):
        _send(server, s)
    ids = {r["subject"]: r["id"] for r in cli.ok("ls", "--json").json()}
    assert cli.ok("rm", str(ids["other"])).out.strip() == "deleted 1 message(s)"
    res = cli("rm", str(ids["other"]))
    assert res.code == 5 and "nothing deleted" in res.err
    assert cli.ok("rm", "--query", "drop", "--yes").out.strip() == "deleted 2 message(s)"
    assert [r["subject"] for r in cli.ok("ls", "--json").json()] == ["keep me"]
    assert cli.ok("search", "drop", "--json").json() == []
    cli.ok("rm", "--all", "--yes")
    assert cli.ok("ls", "--json").json() == []


def test_show_readable_and_json(server: Server, cli: Cli) -> None:
    _send(server, "readable", body="line one\r\nline two")
    [row] = cli.ok("ls", "--json").json()
    out = cli.ok("show", str(row["id"])).out
    assert "Subject: readable" in out and "line two" in out
    data = cli.ok("show", str(row["id"]), "--json").json()
    assert data["headers"]["subject"] == "readable"
    assert data["parts"][0]["content_type"] == "text/plain"
    assert data["envelope"]["rcpt_to"] == ["dev@example.test"]


def test_doctor(cli: Cli) -> None:
    res = cli("doctor", "--json")
    assert res.code == 0, res.err
    names = {c["name"]: c for c in res.json()}
    assert names["sqlite"]["status"] == "ok"
    assert names["store"]["status"] == "ok"


def test_a_query_of_several_words_and_count(server: Server, cli: Cli) -> None:
    _send(server, "budget review", body="numbers")
    _send(server, "budget only")
    _send(server, "review only", to="ops@example.test")
    cli.ok("wait", "only", "OR", "budget", "--count", "3", "--timeout", "10")  # all indexed
    # Several arguments are one query, as one quoted argument is (notmuch and mu).
    assert [r["subject"] for r in cli.ok("search", "budget", "review", "--json").json()] == \
        ["budget review"]
    assert [r["subject"] for r in cli.ok("ls", "budget", "-review", "--json").json()] == \
        ["budget only"]
    assert cli.ok("count").out == "3\n"
    assert cli.ok("count", "budget", "-to:ops@example.test").out == "2\n"
    assert cli.ok("count", "is:unread", "budget").out == "2\n"
    assert cli.ok("count", "nothing-matches-this").out == "0\n"
    assert cli.ok("count", "--threads", "only", "--json").json() == \
        {"count": 2, "query": "only", "threads": True}
    bad = cli("count", "from:")
    assert bad.code == 2 and "expected a value right after from:" in bad.err
