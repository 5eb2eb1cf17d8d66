"""`mailops doctor`: check this installation."""

from __future__ import annotations

from dataclasses import asdict

import typer

from .context import state
from .output import print_json


def doctor_cmd(
    ctx: typer.Context,
    as_json: bool = typer.Option(False, "--json", help="JSON list of checks."),
) -> None:
    """Check Python, SQLite, the store, the listen port and optional tools.

    Exits 1 if any check fails.

    \b
    Example:
      mailops doctor
    """
    from mailops.doctor import run_checks

    checks = run_checks(state(ctx).config)
    if as_json:
        print_json([asdict(c) for c in checks])
    else:
        marks = {"ok": "ok  ", "warn": "warn", "fail": "FAIL"}
        for c in checks:
            typer.echo(f"{marks[c.status]}  {c.name}: {c.message}")
    if any(c.status == "fail" for c in checks):
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    """Add `doctor` to the root app."""
    app.command("doctor")(doctor_cmd)
