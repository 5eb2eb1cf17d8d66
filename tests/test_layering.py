"""The engine must not pull in any UI library (the import-linter contract, at run time)."""

from __future__ import annotations

import pkgutil
import subprocess
import sys
import tomllib
from pathlib import Path

import mailops

ROOT = Path(__file__).resolve().parent.parent


def test_engine_imports_no_ui_library() -> None:
    modules = [m.name for m in pkgutil.walk_packages(mailops.__path__, "mailops.")
               if not m.name.startswith(("mailops.commands", "mailops.tui"))]
    code = ("import importlib, sys\n"
            f"for m in {modules!r}: importlib.import_module(m)\n"
            "ui = {'typer', 'textual', 'rich', 'click'}\n"
            "bad = sorted(n for n in sys.modules if n.split('.')[0] in ui\n"
            "             or n.startswith(('mailops.commands', 'mailops.tui')))\n"
            "print(','.join(bad))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "", f"engine imported UI modules: {out.stdout}"


def test_contract_lists_every_engine_module() -> None:
    """A new engine module must be added to the import-linter contract."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    contract = config["tool"]["importlinter"]["contracts"][0]
    listed = set(contract["source_modules"])
    children = {f"mailops.{m.name}" for m in pkgutil.iter_modules(mailops.__path__)
                if m.name not in {"commands", "tui"}}
    assert children <= listed, f"add to the contract: {sorted(children - listed)}"
