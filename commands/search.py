"""`ls` and `search`: the query language, sorting and cursor pages (docs/search.md)."""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from enum import StrEnum
from typing import Any

import typer
from typer.core import TyperCommand, TyperOption

from .context import open_store, query_text
from .mailbox import LIST_COLUMNS, _rows_for_people
from .output import Format, pick_format, print_json, print_plain_table, render

# Private-use characters mark matches while the table is laid out (they are one
# column wide and survive cell cleaning); they become [ ] or ANSI bold at the end.
_MARK = ("\ue000", "\ue001")
QUERY_HELP = ("A query: words, \"phrases\", from:, subject:, is:unread, after:7d..."
              " (docs/search.md).")


class QueryCommand(TyperCommand):
    """A command whose QUERY may start with "-" (`mailops ls -tag:spam`).

    Click would take `-tag:spam` for options (and `ignore_unknown_options` would
    still read the `n` of `-inbox` as `-n`). So before parsing, every argument
    that starts with one "-" and is not one of the command's options is moved
    behind a "--": it is the query. Unknown `--long` options stay errors.
    """

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:  # Any: click's Context
        """Parse with negated query words moved behind "--"."""
        return super().parse_args(ctx, _queries_last(self.params, ctx.help_option_names,
                                                     args))


def _queries_last(params: Sequence[object], help_names: Sequence[str],
                  args: list[str]) -> list[str]:
    names: set[str] = set(help_names)
    valued: set[str] = set()  # options that take the next argument as their value
    for param in params:
        if isinstance(param, TyperOption):
            names.update([*param.opts, *param.secondary_opts])
            if not param.is_flag and not param.count:
                valued.update(param.opts)
    out: list[str] = []
    queries: list[str] = []
    i = 0
    while i < len(args):
        arg = args[i]
        i += 1
        if arg == "--":
            queries += args[i:]
            break
        if (arg.startswith("-") and not arg.startswith("--") and arg != "-"
                and arg not in names and arg[:2] not in valued):  # -n5 is -n 5
            queries.append(arg)
            continue
        out.append(arg)
        if arg in valued and i < len(args):  # its value, whatever it looks like
            out.append(args[i])
            i += 1
    return [*out, "--", *queries] if queries else out


class Sort(StrEnum):
    """Orders `ls` and `search` offer."""

    date = "date"
    oldest = "oldest"
    relevance = "relevance"


def _page(ctx: typer.Context, query: str | None, *, sort: Sort, limit: int, after: str | None,
          before_id: int | None, snippets: bool, fmt: Format) -> None:
    with open_store(ctx, readonly=True) as store:
        rows = store.search(query, sort=sort.value, limit=limit, after=after,
                            before_id=before_id, snippets=snippets,
                            highlight=_MARK if fmt is Format.table else ("[", "]"))
    if fmt is not Format.table:
        render(rows, fmt, [*LIST_COLUMNS, "snippet"] if snippets else LIST_COLUMNS)
        return
    if not rows:
        sys.stderr.write("no messages" + (f" match {query!r}" if query else "") + "\n")
        return
    # A query without words (a date range, a tag) has no snippets: no empty column.
    snippets = snippets and any(row.get("snippet") for row in rows)
    columns = ["id", "date", "from", "subject", "snippet"] if snippets else LIST_COLUMNS
    shown = _rows_for_people(rows)
    if snippets:
        for row in shown:
            row["snippet"] = _lead_in(row["snippet"] or "")
        _print_marked_table(shown, columns)
    else:
        print_plain_table(shown, columns)
    if len(rows) == limit:
        sys.stderr.write(f"more: add --after {rows[-1]['cursor']}\n")


_LEAD_WORDS = 3  # words of a table's snippet kept before its first match


def _lead_in(snippet: str) -> str:
    """The snippet from a few words before its first match: a narrow terminal cuts
    the end of the column, which must not be where the match is."""
    at = snippet.find(_MARK[0])
    if at < 0:
        return snippet
    words = snippet[:at].split(" ")
    if len(words) <= _LEAD_WORDS + 1:
        return snippet
    return "…" + " ".join(words[-_LEAD_WORDS - 1:]) + snippet[at:]


def _print_marked_table(rows: list[dict[str, Any]], columns: list[str]) -> None:
    """The plain table with match markers shown as bold on a terminal, [ ] elsewhere."""
    import contextlib
    import io

    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        print_plain_table(rows, columns)
    text = buffer.getvalue()
    if sys.stdout.isatty() and "NO_COLOR" not in os.environ:
        # The snippet is the last column, so zero-width escapes shift nothing after it;
        # a reset per line closes a highlight the width cut left open.
        text = text.replace(_MARK[0], "\x1b[1m").replace(_MARK[1], "\x1b[22m")
        text = text.replace("\n", "\x1b[0m\n")
    else:
        text = text.replace(_MARK[0], "[").replace(_MARK[1], "]")
    sys.stdout.write(text)


def ls_cmd(
    ctx: typer.Context,
    words: list[str] | None = typer.Argument(None, metavar="[QUERY]...", help=QUERY_HELP),
    limit: int = typer.Option(50, "--limit", "-n", min=1, help="Show at most N messages."),
    sort: Sort = typer.Option(Sort.date, "--sort",
                              help="date (newest first), oldest or relevance."),
    after: str | None = typer.Option(None, "--after", metavar="CURSOR",
                                     help="Next page: the last row's \"cursor\" from --json."),
    before: int | None = typer.Option(None, "--before-id", help="Page: ids below this one."),
    fmt: Format = typer.Option(Format.table, "--format", help="table, json or csv."),
    as_json: bool = typer.Option(False, "--json", help="JSON rows (see docs/cli.md)."),
    as_csv: bool = typer.Option(False, "--csv", help="CSV rows."),
    threads: bool = typer.Option(False, "--threads",
                                 help="One row per conversation (threads with a match), "
                                      "newest first (docs/threads.md)."),
) -> None:
    """List stored messages, newest first, optionally only those matching a query.

    \b
    Examples:
      mailops ls
      mailops ls 'from:alice is:unread' --limit 10 --json
      mailops ls --after WyJkIiwxNzk1ODcxNzE5LjI0LDQyXQ --json
      mailops ls --threads
    """
    query = query_text(words)
    if threads:
        from .threads import list_threads

        list_threads(ctx, query, limit, pick_format(fmt, as_json, as_csv),
                     paged=after is not None or before is not None or sort is not Sort.date)
        return
    _page(ctx, query, sort=sort, limit=limit, after=after, before_id=before, snippets=False,
          fmt=pick_format(fmt, as_json, as_csv))


def search_cmd(
    ctx: typer.Context,
    words: list[str] = typer.Argument(..., metavar="QUERY...", help=QUERY_HELP),
    limit: int = typer.Option(50, "--limit", "-n", min=1, help="Show at most N messages."),
    sort: Sort = typer.Option(Sort.date, "--sort",
                              help="date (newest first), oldest or relevance (bm25)."),
    after: str | None = typer.Option(None, "--after", metavar="CURSOR",
                                     help="Next page: the last row's \"cursor\" from --json."),
    fmt: Format = typer.Option(Format.table, "--format", help="table, json or csv."),
    as_json: bool = typer.Option(False, "--json",
                                 help="JSON rows: the ls shape plus snippet and score."),
    as_csv: bool = typer.Option(False, "--csv", help="CSV rows."),
) -> None:
    """Search with the query language; rows come with a highlighted snippet.

    Words are ANDed and match whole words, ignoring case and accents; see
    docs/search.md for every operator.

    \b
    Examples:
      mailops search password reset
      mailops search 'subject:invoi* -from:billing after:7d' --sort relevance
      mailops search '(alice OR bob) has:attachment' --json
    """
    _page(ctx, query_text(words), sort=sort, limit=limit, after=after, before_id=None,
          snippets=True, fmt=pick_format(fmt, as_json, as_csv))


def count_cmd(
    ctx: typer.Context,
    words: list[str] | None = typer.Argument(None, metavar="[QUERY]...", help=QUERY_HELP),
    threads: bool = typer.Option(False, "--threads",
                                 help="Count conversations with a match, not messages."),
    as_json: bool = typer.Option(False, "--json",
                                 help='{"count": N, "query": ..., "threads": ...}'),
) -> None:
    """Count the messages matching a query (every message without one): one number.

    A folder, All mail (-folder:Trash) or a tag, also with is:unread, is counted
    from the store's counters at once, however big the store.

    \b
    Examples:
      mailops count
      mailops count 'to:signup@example.test after:1h'
      test "$(mailops count subject:welcome)" -eq 1
      mailops count --threads tag:work is:unread --json
    """
    from mailops.store.listing import count

    query = query_text(words)
    with open_store(ctx, readonly=True) as store:
        found = count(store, query, sort="threads" if threads else "date")
    if as_json:
        print_json({"count": found, "query": query, "threads": threads})
    else:
        sys.stdout.write(f"{found}\n")


def register(app: typer.Typer) -> None:
    """Add `ls`, `search` and `count` to the root app."""
    app.command("ls", cls=QueryCommand)(ls_cmd)
    app.command("search", cls=QueryCommand)(search_cmd)
    app.command("count", cls=QueryCommand)(count_cmd)
