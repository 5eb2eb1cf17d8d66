"""Reading the store: `ls`, `search`, `show`, `rm` and `wait`."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

import typer

from .context import open_store, query_text
from .output import print_json

LIST_COLUMNS = ["id", "date", "from", "to", "subject", "size"]


def _date_cell(row: dict[str, Any]) -> str:
    date = row.get("date")
    if isinstance(date, str):
        return date[:16].replace("T", " ")
    return time.strftime("%Y-%m-%d %H:%M", time.gmtime(row["received_at"]))


def _rows_for_people(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for r in rows:
        shown = dict(r)
        shown["date"] = _date_cell(r)
        shown["to"] = ", ".join(r["to"]) or ", ".join(r["rcpt_to"])
        shown["from"] = r["from"] or r["mail_from"] or ""
        out.append(shown)
    return out


def show_cmd(
    ctx: typer.Context,
    msg_id: int = typer.Argument(..., metavar="ID", help="Message id (from `mailops ls`)."),
    raw: bool = typer.Option(False, "--raw", help="Write the exact stored bytes."),
    headers: bool = typer.Option(False, "--headers", help="Only the header block."),
    html: bool = typer.Option(False, "--html", help="The HTML part as stored."),
    part: int | None = typer.Option(None, "--part", help="Write part N's decoded content."),
    save: Path | None = typer.Option(None, "--save-attachments", metavar="DIR",
                                     help="Save every attachment into DIR."),
    as_json: bool = typer.Option(False, "--json", help="Summary, parts and text as JSON."),
) -> None:
    """Show one message: a readable view, or its raw bytes, headers, parts.

    \b
    Examples:
      mailops show 12
      mailops show 12 --raw > copy.eml
      mailops show 12 --save-attachments ./out
    """
    from mailops import view

    with open_store(ctx, readonly=True) as store:
        row = store.get(msg_id)
        data = store.raw(msg_id)
    if raw:
        sys.stdout.buffer.write(data)
        sys.stdout.flush()
        return
    if headers:
        sys.stdout.buffer.write(view.header_block(data))
        sys.stdout.flush()
        return
    if html:
        sys.stdout.write(view.html_part(data) + "\n")
        return
    if part is not None:
        sys.stdout.buffer.write(view.part_content(data, part))
        sys.stdout.flush()
        return
    if save is not None:
        for path in view.save_attachments(data, save):
            typer.echo(str(path))
        return
    rendered = view.readable(row, data)
    if as_json:
        print_json(rendered)
        return
    _print_readable(rendered)


def _print_readable(v: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.markup import escape

    console = Console(highlight=False)
    for label in ("From", "To", "Cc", "Date", "Subject"):
        value = v["headers"].get(label.lower())
        if value:
            console.print(f"[bold]{label}:[/] {escape(value)}")
    box = v["mailbox"]
    filed = [*([f"folder {box['folder']}"] if box["folder"] != "INBOX" else []),
             *([f"tags {', '.join(box['tags'])}"] if box["tags"] else []),
             *(flag for flag in ("flagged", "replied") if box[flag])]
    if filed:  # what sets it apart from new mail in INBOX, as notmuch show prints tags
        console.print("[bold]Mailbox:[/] " + escape(" · ".join(filed)))
    from mailops.view import auth_summary

    for server, verdicts in auth_summary(v["auth"]):
        console.print("[bold]Authentication:[/] " + escape(
            " ".join(f"{m}={r}" for m, r in verdicts) + (f" (by {server})" if server else "")))
    if v["attachments"]:
        console.print("[bold]Attachments:[/] " + escape(", ".join(v["attachments"])))
    if v["defects"]:
        console.print("[yellow]Parse defects:[/] " + escape(", ".join(v["defects"])))
    console.print()
    console.print(escape(v["text"]))
    if v["links"]:
        console.print()
        for i, link in enumerate(v["links"], 1):
            console.print(f"[dim][{i}][/] {escape(link)}")


def rm_cmd(
    ctx: typer.Context,
    ids: list[int] = typer.Argument(None, metavar="[ID]...", help="Message ids to delete."),
    query: str | None = typer.Option(None, "--query", "-q",
                                     help="Delete every match of this query."),
    everything: bool = typer.Option(False, "--all", help="Delete every message."),
    yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask before deleting by query."),
) -> None:
    """Delete messages by id, by query, or all of them.

    \b
    Examples:
      mailops rm 3 4 5
      mailops rm --query newsletter --yes
      mailops rm --all --yes
    """
    from mailops.errors import NotFoundError, UsageError

    if not ids and query is None and not everything:
        raise UsageError("say what to delete: IDs, --query WORDS or --all")
    with open_store(ctx) as store:
        targets = list(ids or [])
        if query is not None or everything:
            targets += list(store.iter_ids(query if not everything else None))
            if not yes and targets:
                typer.confirm(f"delete {len(targets)} message(s)?", abort=True)
        missing = [i for i in ids or [] if not store.has_id(i)]
        if missing:
            raise NotFoundError(f"no message with id {', '.join(map(str, missing))}"
                                "; nothing deleted")
        deleted = store.delete(targets)
    typer.echo(f"deleted {deleted} message(s)")


def wait_cmd(
    ctx: typer.Context,
    words: list[str] | None = typer.Argument(
        None, metavar="[QUERY]...", help="A query the message must match (any if empty)."),
    timeout: float = typer.Option(30.0, "--timeout", "-t", help="Give up after S seconds."),
    count: int = typer.Option(1, "--count", "-c", min=1, help="Wait for N matching messages."),
    since_now: bool = typer.Option(False, "--new/--any",
                                   help="--new: only messages arriving after the wait starts; "
                                        "--any (default): messages already stored count too."),
    after_id: int | None = typer.Option(None, "--after-id", metavar="ID",
                                        help="Only messages with ids above ID (from ls --json)."),
    interval: float = typer.Option(0.1, "--interval", help="Seconds between checks."),
    as_json: bool = typer.Option(False, "--json", help="Print the matching messages as JSON."),
) -> None:
    """Wait until a matching message arrives (for CI): exit 0, or 8 on timeout.

    \b
    Examples:
      mailops wait "Welcome to" --timeout 30
      mailops wait 'to:dev@example.test subject:"reset your password"'
      mailops wait --new --count 3 --json
    """
    from mailops.wait import wait_for

    from .context import state

    rows = wait_for(ctx_store_path(ctx), query_text(words), timeout=timeout, count=count,
                    since_now=since_now, after_id=after_id, interval=interval,
                    tagging=state(ctx).config.tagging)
    if as_json:
        print_json(rows)
    else:
        for r in rows:
            typer.echo(f"{r['id']}\t{r['from']}\t{r['subject']}")


def ctx_store_path(ctx: typer.Context) -> Path:
    """The store file of this invocation."""
    from .context import state

    return state(ctx).config.paths.store_file


def register(app: typer.Typer) -> None:
    """Add the mailbox commands to the root app."""
    from . import search  # ls and search live there (it imports this module's helpers)

    search.register(app)
    app.command("show")(show_cmd)
    app.command("rm")(rm_cmd)
    app.command("wait")(wait_cmd)
