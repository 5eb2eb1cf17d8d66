"""Start-up of `mailops ls`/`search`: a run builds only its own command's module.

Checked by what gets imported (module names, never timings) and by the
per-command app answering help exactly as the whole CLI does.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import typer
from conftest import ROOT
from mailops.commands.main import _MODULE_OF, _command_of, build_app
from typer.testing import CliRunner

# What `ls` and `search` must not pay for: other command modules and the engines,
# UI and network libraries behind them.
HEAVY = ("mailops.commands.audit", "mailops.commands.dkim", "mailops.commands.serve",
         "mailops.commands.send", "mailops.commands.tui_cmd", "mailops.commands.transfer",
         "mailops.audit", "mailops.dkim", "mailops.smtp", "mailops.tui", "mailops.mime",
         "textual", "rich", "dns", "aiosmtpd", "aiosmtplib", "httpx", "cryptography")

MESSAGE = (b"From: Alice <alice@example.test>\r\nTo: dev@example.test\r\n"
           b"Subject: start-up check\r\nMessage-ID: <startup@example.test>\r\n\r\nhello\r\n")


def _imported(args: list[str], home: Path) -> set[str]:
    """Module names a real `mailops ARGS` process imports (from -X importtime)."""
    env = {**os.environ, "MAILOPS_HOME": str(home), "NO_COLOR": "1"}
    proc = subprocess.run([sys.executable, "-X", "importtime", "-m", "mailops.commands", *args],
                          capture_output=True, text=True, env=env, cwd=ROOT, timeout=60)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return {line.rsplit("|", 1)[1].strip() for line in proc.stderr.splitlines()
            if line.startswith("import time:") and "|" in line}


@pytest.mark.parametrize("args", [
    ["ls"], ["ls", "--json"], ["search", "--limit", "50", "--", "from:alice"],
    ["search", "--json", "from:alice"],
], ids=" ".join)
def test_ls_and_search_skip_unrelated_commands(tmp_path: Path, args: list[str]) -> None:
    home = tmp_path / "home"
    (tmp_path / "one.eml").write_bytes(MESSAGE)
    env = {**os.environ, "MAILOPS_HOME": str(home)}
    subprocess.run([sys.executable, "-m", "mailops.commands", "import", str(tmp_path / "one.eml")],
                   check=True, capture_output=True, env=env, cwd=ROOT, timeout=60)
    names = _imported(args, home)
    assert "mailops.commands.search" in names  # the listing really ran
    heavy = sorted(n for n in names if any(n == h or n.startswith(h + ".") for h in HEAVY))
    assert heavy == []


def test_module_table_matches_what_modules_register() -> None:
    whole = typer.main.get_command(build_app())
    assert isinstance(whole, typer.core.TyperGroup)
    assert set(whole.commands) == set(_MODULE_OF)
    for name in _MODULE_OF:
        part = typer.main.get_command(build_app(name))
        assert isinstance(part, typer.core.TyperGroup)
        assert name in part.commands


def _help_paths() -> list[list[str]]:
    whole = typer.main.get_command(build_app())
    assert isinstance(whole, typer.core.TyperGroup)
    paths = []
    for name, cmd in sorted(whole.commands.items()):
        paths.append([name])
        paths += [[name, sub] for sub in sorted(getattr(cmd, "commands", {}))]
    return paths


@pytest.mark.parametrize("path", _help_paths(), ids=" ".join)
def test_one_command_app_helps_like_the_whole_cli(path: list[str]) -> None:
    runner = CliRunner()
    whole = runner.invoke(build_app(), [*path, "--help"], prog_name="mailops")
    part = runner.invoke(build_app(path[0]), [*path, "--help"], prog_name="mailops")
    assert whole.exit_code == part.exit_code == 0, whole.output
    assert part.output == whole.output


@pytest.mark.parametrize("args,expected", [
    (["search", "--limit", "5", "x"], "search"),
    (["--home", "/tmp/h", "ls"], "ls"),
    (["--home=/tmp/h", "dkim", "sign"], "dkim"),
    (["--home", "ls"], None),  # "ls" is the home dir: no command yet
    (["--help"], None), (["--version"], None), ([], None), (["nosuchcommand"], None),
    (["--bogus", "ls"], None), (["--", "ls"], None),
])
def test_command_of_picks_only_a_known_command(args: list[str], expected: str | None) -> None:
    assert _command_of(args) == expected


def test_completion_gets_the_whole_cli(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("_MAILOPS_COMPLETE", "complete_bash")
    assert _command_of(["ls"]) is None
