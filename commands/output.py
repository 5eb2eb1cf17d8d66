"""Rendering shared by every command: rich tables for people, JSON and CSV for scripts."""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Sequence
from enum import StrEnum
from typing import Any

import typer


class Format(StrEnum):
    """Output formats every listing command accepts."""

    table = "table"
    json = "json"
    csv = "csv"


def format_option() -> Any:
    """The shared `--format` option (`--json` and `--csv` are shorthands)."""
    return typer.Option(Format.table, "--format", help="Output format: table, json or csv.")


def pick_format(fmt: Format, as_json: bool, as_csv: bool) -> Format:
    """Resolve `--json`/`--csv` shorthands against `--format`."""
    if as_json and as_csv:
        raise typer.BadParameter("--json and --csv exclude each other")
    if as_json:
        return Format.json
    if as_csv:
        return Format.csv
    return fmt


def print_json(data: Any) -> None:
    """Pretty JSON on stdout (stable key order as given)."""
    sys.stdout.write(json.dumps(data, indent=2, ensure_ascii=False, default=str) + "\n")


_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def _cell(value: Any) -> str:
    """A table cell: lists joined, control characters (terminal escapes) removed."""
    if value is None:
        return ""
    if isinstance(value, list):
        value = ", ".join(str(v) for v in value)
    return _CONTROL.sub("", str(value))


def print_csv(rows: Sequence[dict[str, Any]], columns: Sequence[str]) -> None:
    """CSV with a header line; lists joined with ', '."""
    import csv  # only --csv needs it

    writer = csv.writer(sys.stdout)
    writer.writerow(columns)
    for row in rows:
        writer.writerow([_cell(row.get(c)) for c in columns])


def print_table(rows: Sequence[dict[str, Any]], columns: Sequence[str],
                title: str | None = None) -> None:
    """A rich table (colours only on a TTY without NO_COLOR)."""
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title, header_style="bold", show_edge=False, pad_edge=False)
    for col in columns:
        table.add_column(col, overflow="fold", justify="right" if col in {"id", "size"} else "left")
    from rich.markup import escape

    for row in rows:
        table.add_row(*[escape(_cell(row.get(c))) for c in columns])
    Console(soft_wrap=False).print(table)


def print_plain_table(rows: Sequence[dict[str, Any]], columns: Sequence[str],
                      right: frozenset[str] = frozenset({"id", "size"}),
                      shrink: Sequence[str] = ("subject", "to", "from")) -> None:
    """Aligned columns without rich: `mailops ls` must answer in well under 200 ms, and
    importing and running rich's table layout costs ~100 ms of that.

    Cells are one line each; when the table is wider than the terminal, the
    `shrink` columns are cut (with an ellipsis) in that order.
    """
    import shutil

    cells = [[" ".join(_cell(row.get(c)).split()) for c in columns] for row in rows]
    widths = [max([len(c), *(len(line[i]) for line in cells)]) for i, c in enumerate(columns)]
    room = shutil.get_terminal_size((120, 24)).columns
    excess = sum(widths) + 2 * (len(columns) - 1) - room
    for name in shrink:
        if excess <= 0 or name not in columns:
            continue
        i = list(columns).index(name)
        cut = min(excess, widths[i] - max(len(name), 12))
        if cut > 0:
            widths[i] -= cut
            excess -= cut

    def line(values: Sequence[str]) -> str:
        out = []
        for i, (col, value) in enumerate(zip(columns, values, strict=True)):
            if len(value) > widths[i]:
                value = value[: widths[i] - 1] + "…"
            out.append(value.rjust(widths[i]) if col in right else value.ljust(widths[i]))
        return "  ".join(out).rstrip()

    header = line(list(columns))
    if use_color():
        header = f"\x1b[1m{header}\x1b[0m"
    text = [header, *(line(values) for values in cells)]
    sys.stdout.write("\n".join(text) + "\n")


def use_color() -> bool:
    """Colour only for a person at a terminal who has not set NO_COLOR."""
    import os

    return sys.stdout.isatty() and not os.environ.get("NO_COLOR")


def render(rows: Sequence[dict[str, Any]], fmt: Format, columns: Sequence[str],
           title: str | None = None) -> None:
    """Print rows in the chosen format (JSON gets every field, tables the columns)."""
    if fmt is Format.json:
        print_json(list(rows))
    elif fmt is Format.csv:
        print_csv(rows, columns)
    else:
        print_table(rows, columns, title)


def err(message: str) -> None:
    """A one-line message on stderr."""
    sys.stderr.write(f"mailops: {message}\n")
