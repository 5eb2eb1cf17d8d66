"""The TUI stays a UI: no SQL of its own, and the CLI does not pay for Textual."""

from __future__ import annotations

import re
import subprocess
import sys

from conftest import ROOT

_SQL = re.compile(r"\b(SELECT|INSERT|UPDATE|DELETE FROM|CREATE TABLE)\b|\.execute\(|sqlite3")


def test_tui_has_no_sql() -> None:
    for path in sorted((ROOT / "tui").rglob("*.py")):
        found = _SQL.search(path.read_text())
        assert found is None, f"{path.name}: {found.group(0)!r}: add an engine function instead"


def test_cli_start_does_not_import_textual() -> None:
    code = ("import sys\nfrom mailops.commands.main import app\n"
            "print(sorted(m for m in sys.modules if m.split('.')[0] == 'textual'"
            " or m.startswith('mailops.tui')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, cwd=ROOT)
    assert out.stdout.strip() == "[]"
