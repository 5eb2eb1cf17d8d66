"""Organising mail: `tag`, `tags`, `mv`, `folders` and `mark` (docs/tags.md)."""

from __future__ import annotations

from typing import Any

import typer

from .context import open_store
from .output import Format, pick_format, print_json, print_plain_table, render

# `-old` must reach us as an argument, not be parsed as options; and without -h,
# a cluster such as `-urgent-high` cannot turn into a help request.
_LOOSE = {"ignore_unknown_options": True, "help_option_names": ["--help"]}


def _ids(store: Any, query: str) -> list[int]:
    """Every message matching a query (the store's query language)."""
    from mailops.errors import UsageError

    if not query.strip():
        raise UsageError("give a query selecting the messages (see docs/search.md)")
    return list(store.iter_ids(query))


def _summary(query: str, change: Any, **extra: Any) -> dict[str, Any]:
    return {"query": query, **change.as_dict(), **extra}


def _counted(change: Any) -> str:
    verb = "would change" if change.dry_run else "changed"
    return f"{verb} {change.changed} message(s) of {change.matched} matching"


def tag_cmd(
    ctx: typer.Context,
    query: str | None = typer.Argument(None, help="Messages to change (query language)."),
    changes: list[str] = typer.Argument(None, metavar="[+TAG|-TAG]...",
                                        help="+TAG adds a tag, -TAG removes it."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Only count what would change."),
    list_tags: bool = typer.Option(False, "--list", help="List tags with counts (as `tags`)."),
    as_json: bool = typer.Option(False, "--json", help="Print a JSON summary."),
) -> None:
    """Add and remove tags on every message matching QUERY.

    Tags are case-insensitive (stored lower-case): ASCII letters, digits and _ . - /
    Prints how many messages changed. (Help is `--help` only here: `-h` could be a
    tag.)

    \b
    Examples:
      mailops tag from:github.com +dev +github
      mailops tag 'tag:inbox subject:invoice' +billing -inbox
      mailops tag is:unread +later --dry-run
      mailops tag --list
    """
    from mailops.errors import UsageError
    from mailops.store.tags import change_tags

    if list_tags:
        if query is not None:
            raise UsageError("--list takes no query or tags")
        _print_tags(ctx, Format.json if as_json else Format.table)
        return
    if query is None:
        raise UsageError("give a QUERY and +TAG/-TAG changes (or --list)")
    add: list[str] = []
    remove: list[str] = []
    for item in changes or []:
        if item.startswith("+"):
            add.append(item[1:])
        elif item.startswith("-"):
            remove.append(item[1:])
        else:
            raise UsageError(f"{item!r}: write +{item} to add the tag or -{item} to remove it")
    with open_store(ctx) as store:
        change = change_tags(store, _ids(store, query), add, remove, dry_run=dry_run)
    if as_json:
        print_json(_summary(query, change))
        return
    details = [f"+{t} {n}" for t, n in change.added.items()]
    details += [f"-{t} {n}" for t, n in change.removed.items()]
    typer.echo(f"{_counted(change)} ({', '.join(details)})")


def _print_tags(ctx: typer.Context, fmt: Format) -> None:
    from mailops.store.tags import tag_counts

    with open_store(ctx, readonly=True) as store:
        rows = tag_counts(store)
    if fmt is Format.table:
        print_plain_table(rows, ["tag", "count", "unread"],
                          right=frozenset({"count", "unread"}))
    else:
        render(rows, fmt, ["tag", "count", "unread"])


def tags_cmd(
    ctx: typer.Context,
    fmt: Format = typer.Option(Format.table, "--format", help="table, json or csv."),
    as_json: bool = typer.Option(False, "--json", help="JSON rows: tag, count, unread."),
    as_csv: bool = typer.Option(False, "--csv", help="CSV rows."),
) -> None:
    """List every tag in use with its message and unread counts.

    \b
    Examples:
      mailops tags
      mailops tags --json
    """
    _print_tags(ctx, pick_format(fmt, as_json, as_csv))


def mv_cmd(
    ctx: typer.Context,
    query: str = typer.Argument(..., help="Messages to move (query language)."),
    folder: str = typer.Argument(..., help="Target folder (made on first use)."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Only count what would move."),
    as_json: bool = typer.Option(False, "--json", help="Print a JSON summary."),
) -> None:
    """Move every message matching QUERY to FOLDER.

    Folders need no creating; a name that differs from an existing folder only in
    case means that folder. Every message starts in INBOX.

    \b
    Examples:
      mailops mv from:github.com Dev
      mailops mv 'folder:Dev before:30d' Archive --json
    """
    from mailops.store.tags import move

    with open_store(ctx) as store:
        change, name, created = move(store, _ids(store, query), folder, dry_run=dry_run)
    if as_json:
        print_json(_summary(query, change, folder=name, created=created))
        return
    typer.echo(f"{_counted(change)} (to {name}{', a new folder' if created else ''})")


def mark_cmd(
    ctx: typer.Context,
    query: str = typer.Argument(..., help="Messages to mark (query language)."),
    what: str = typer.Argument(..., metavar="read|unread|flagged|unflagged|replied|unreplied",
                               help="The flag to set or clear."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Only count what would change."),
    as_json: bool = typer.Option(False, "--json", help="Print a JSON summary."),
) -> None:
    """Set or clear a flag on every message matching QUERY.

    \b
    Examples:
      mailops mark folder:Dev read
      mailops mark 'from:boss@example.test is:unread' flagged --json
    """
    from mailops.errors import UsageError
    from mailops.store.tags import MARKS, mark

    state = what.lower()
    if state not in MARKS:  # before selecting: a typo should not cost a query
        raise UsageError(f"cannot mark {what!r}: expected one of {', '.join(MARKS)}")
    with open_store(ctx) as store:
        change = mark(store, _ids(store, query), state, dry_run=dry_run)
    if as_json:
        print_json(_summary(query, change, mark=state))
        return
    typer.echo(f"{_counted(change)} (marked {state})")


def folders_cmd(
    ctx: typer.Context,
    fmt: Format = typer.Option(Format.table, "--format", help="table, json or csv."),
    as_json: bool = typer.Option(False, "--json", help="JSON rows: folder, total, unread."),
    as_csv: bool = typer.Option(False, "--csv", help="CSV rows."),
) -> None:
    """List folders with their total and unread message counts (INBOX first).

    \b
    Examples:
      mailops folders
      mailops folders --json
    """
    from mailops.store.tags import folder_counts

    with open_store(ctx, readonly=True) as store:
        rows = folder_counts(store)
    chosen = pick_format(fmt, as_json, as_csv)
    if chosen is Format.table:
        print_plain_table(rows, ["folder", "total", "unread"],
                          right=frozenset({"total", "unread"}))
    else:
        render(rows, chosen, ["folder", "total", "unread"])


def register(app: typer.Typer) -> None:
    """Add the tag, folder and flag commands to the root app."""
    app.command("tag", context_settings=_LOOSE)(tag_cmd)
    app.command("tags")(tags_cmd)
    app.command("mv")(mv_cmd)
    app.command("mark")(mark_cmd)
    app.command("folders")(folders_cmd)
