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


# How a message table gives way on a narrow terminal: (column, floor) steps, in
# order, each cutting that column down to its floor at most, until the table fits.
# Addresses give way first (a cut one shows its display name alone), then the
# snippet, and the subject, which people read, last.
MESSAGE_SHRINK: tuple[tuple[str, int], ...] = (
    ("to", 24), ("from", 24), ("participants", 30), ("snippet", 40), ("subject", 50),
    ("to", 14), ("from", 16), ("participants", 16), ("snippet", 24), ("subject", 24),
    ("snippet", 10), ("to", 6), ("from", 8), ("subject", 12), ("reason", 12))
_ADDRESS_COLUMNS = frozenset({"from", "to"})


def _names(value: Any) -> str:
    """An address cell as display names only ("Alice Dubois" for "Alice Dubois
    <alice@example.org>"): what a cut address column shows."""
    from mailops.threads import display_name

    items = value if isinstance(value, list) else [value] if value else []
    return ", ".join(display_name(str(v)) for v in items)


def print_plain_table(rows: Sequence[dict[str, Any]], columns: Sequence[str],
                      right: frozenset[str] = frozenset({"id", "size"}),
                      shrink: Sequence[tuple[str, int]] = MESSAGE_SHRINK) -> None:
    """Aligned columns without rich: `mailops ls` must answer in well under 200 ms, and
    importing and running rich's table layout costs ~100 ms of that.

    Cells are one line each; when the table is wider than the terminal, columns
    are cut (with an ellipsis) by the `shrink` steps; a cut `from` or `to` cell
    first drops the addresses and keeps the names.
    """
    import shutil

    def flat(text: str) -> str:
        return " ".join(text.split())

    cells = [[flat(_cell(row.get(c))) for c in columns] for row in rows]

    def shown_address(number: int, col: str, width: int) -> str:
        """What an address cell shows in a column `width` wide (before any cut)."""
        value = cells[number][list(columns).index(col)]
        return value if len(value) <= width else flat(_cell(_names(rows[number].get(col))))
    widths = [max([len(c), *(len(line[i]) for line in cells)]) for i, c in enumerate(columns)]
    full = list(widths)
    room = shutil.get_terminal_size((120, 24)).columns
    excess = sum(widths) + 2 * (len(columns) - 1) - room
    for name, floor in shrink:
        if excess <= 0:
            break
        if name not in columns:
            continue
        i = list(columns).index(name)
        cut = min(excess, widths[i] - max(len(name), floor))
        if cut > 0:
            widths[i] -= cut
            excess -= cut

    # A cut address column shows names, often shorter than the cut: the room it no
    # longer needs goes to the columns cut the most (subject first), then back to
    # the address columns, up to what their names need.
    want = list(full)
    spare = 0
    for i, col in enumerate(columns):
        if col in _ADDRESS_COLUMNS and widths[i] < full[i]:
            want[i] = max([len(col), *(len(shown_address(n, col, widths[i]))
                                       for n in range(len(rows)))])
            used = min(widths[i], want[i])
            spare += widths[i] - used
            widths[i] = used
    for col in ("subject", "snippet", "participants", "from", "to"):
        if col in columns and spare > 0:
            i = list(columns).index(col)
            grow = max(0, min(spare, want[i] - widths[i]))
            widths[i] += grow
            spare -= grow

    def line(values: Sequence[str], number: int | None) -> str:
        out = []
        for i, (col, value) in enumerate(zip(columns, values, strict=True)):
            if len(value) > widths[i] and number is not None and col in _ADDRESS_COLUMNS:
                value = shown_address(number, col, widths[i])
            if len(value) > widths[i]:
                value = value[: widths[i] - 1] + "…"
            out.append(value.rjust(widths[i]) if col in right else value.ljust(widths[i]))
        return "  ".join(out).rstrip()

    header = line(list(columns), None)
    if use_color():
        header = f"\x1b[1m{header}\x1b[0m"
    text = [header, *(line(values, n) for n, values in enumerate(cells))]
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
