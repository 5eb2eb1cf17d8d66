"""`mailops import` and `mailops export`: move mail between the store and files."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from .context import open_store, query_text
from .output import err, print_json, print_plain_table
from .search import QueryCommand

if TYPE_CHECKING:
    from rich.progress import Progress, TaskID

    from mailops.exporter import ExportResult
    from mailops.importer import ImportResult, Plan

_BAR_DELAY = 0.5  # seconds of work before a progress bar is worth drawing


class _LazyBar:
    """A rich progress bar on stderr, drawn only on a TTY and once work runs long."""

    def __init__(self, description: str, total: int, unit_bytes: bool) -> None:
        self.description = description
        self.total = total
        self.unit_bytes = unit_bytes
        self.enabled = sys.stderr.isatty()
        self.started = time.monotonic()
        self.bar: Progress | None = None
        self.task: TaskID | None = None

    def update(self, completed: int) -> None:
        if not self.enabled:
            return
        if self.bar is None:
            if time.monotonic() - self.started < _BAR_DELAY:
                return
            self._start()
        assert self.bar is not None and self.task is not None
        self.bar.update(self.task, completed=completed)

    def _start(self) -> None:
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            DownloadColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeRemainingColumn,
        )

        amount = DownloadColumn() if self.unit_bytes else MofNCompleteColumn()
        self.bar = Progress(TextColumn("{task.description}"), BarColumn(), amount,
                            TimeRemainingColumn(), console=Console(stderr=True),
                            transient=True)
        self.bar.start()
        self.task = self.bar.add_task(self.description, total=self.total)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.stop()


def _print_survey(found: Plan, as_json: bool) -> None:
    """`import --dry-run`: each source's kind, folder and message count; nothing read."""
    from mailops.importer import survey

    counted, failures = survey(found)
    for failure in failures:
        err(f"failed: {failure.origin}: {failure.reason}")
    total = sum(c.messages for c in counted)
    if as_json:
        print_json({"messages": total, "sources": [c.as_dict() for c in counted],
                    "failures": [{"origin": f.origin, "reason": f.reason} for f in failures]})
        return
    print_plain_table([c.as_dict() for c in counted],
                      ["kind", "folder", "messages", "path"],
                      right=frozenset({"messages"}), shrink=(("path", 20),))
    typer.echo(f"would import up to {total} message(s) from {len(counted)} source(s),"
               f" {len(failures)} failed (messages already stored are skipped)")


def import_cmd(
    ctx: typer.Context,
    paths: list[Path] = typer.Argument(..., metavar="PATH",
                                       help="Files, maildirs, mbox files or folders."),
    as_json: bool = typer.Option(False, "--json", help="Print a JSON summary."),
    dry_run: bool = typer.Option(False, "--dry-run",
                                 help="Only list the sources: kind, folder, messages."),
) -> None:
    """Import .eml files, maildirs and mbox files (or folders holding them).

    Folders are walked recursively: a folder with cur/ and new/ is a maildir, a file
    starting with a "From sender date" line is an mbox (never a *.eml file), a *.eml
    file or one starting with a header line is one message; other files are not
    mail. Maildir and mbox flags (read, flagged, replied) are kept, and a maildir or
    mbox inside a folder goes to the folder its path names (.Sent is Sent). Messages
    already stored (same bytes) are skipped, so importing twice adds nothing.
    Unreadable files and files that are not mail inside a folder are listed and
    counted, not fatal; a PATH that does not exist or is not mail exits 6 before
    anything is imported. See docs/import-export.md.

    \b
    Examples:
      mailops import message.eml
      mailops import ~/Maildir archive.mbox --json
      mailops import ./exported-mail/
      mailops import ~/mail --dry-run
    """
    from mailops.importer import plan, run_import

    found = plan(paths)
    if dry_run:
        _print_survey(found, as_json)
        return
    bar = _LazyBar("importing", found.total_bytes, unit_bytes=True)

    def progress(result: ImportResult) -> None:
        bar.update(result.bytes_read)

    try:
        with open_store(ctx) as store:
            result = run_import(store, found, progress=progress)
    finally:
        bar.close()
    for failure in result.failures:
        err(f"failed: {failure.origin}: {failure.reason}")
    if as_json:
        print_json(result.as_dict())
        return
    ids = f" (ids {result.first_id}-{result.last_id})" if result.first_id is not None else ""
    typer.echo(f"imported {result.imported} message(s){ids}, skipped {result.duplicates} "
               f"duplicate(s), {result.failed} failed")


def export_cmd(
    ctx: typer.Context,
    words: list[str] | None = typer.Argument(None, metavar="[QUERY]...",
                                             help="Only messages matching this query."),
    to: Path = typer.Option(..., "--to", metavar="DIR|FILE",
                            help="Directory (eml, maildir) or file (mbox) to write."),
    fmt: str = typer.Option("eml", "--format", "-f", metavar="eml|mbox|maildir",
                            help="Output format: eml, mbox or maildir."),
    limit: int | None = typer.Option(None, "--limit", "-n", min=1,
                                     help="Only the newest N matching messages."),
    as_json: bool = typer.Option(False, "--json", help="Print a JSON summary."),
    by_folder: bool = typer.Option(False, "--folders",
                                   help="maildir: one maildir a folder (INBOX at DIR, "
                                        "Sent at DIR/Sent), as import reads back."),
) -> None:
    """Export messages (all, or those matching QUERY) as .eml files, a maildir or an mbox.

    eml and maildir write the exact stored bytes: importing them again gives identical
    messages. mbox quotes body lines starting with "From " (bytes change), and appends
    to an existing mbox file.

    \b
    Examples:
      mailops export --to ./out                          # ./out/<id>.eml
      mailops export invoice --to ./Maildir --format maildir
      mailops export --to all.mbox --format mbox --json
      mailops export --limit 10 --to ./latest            # the 10 newest
      mailops export --to ./backup --format maildir --folders
    """
    from mailops.errors import UsageError
    from mailops.exporter import ExportFormat, export, select_ids

    if fmt not in {f.value for f in ExportFormat}:
        raise UsageError(f"unknown format {fmt!r}: use eml, mbox or maildir")
    with open_store(ctx, readonly=True) as store:
        ids = select_ids(store, query_text(words), limit)
        bar = _LazyBar("exporting", len(ids), unit_bytes=False)

        def progress(result: ExportResult) -> None:
            bar.update(result.exported)

        try:
            result = export(store, to, fmt, ids=ids, progress=progress, by_folder=by_folder)
        finally:
            bar.close()
    if as_json:
        print_json(result.as_dict())
    else:
        typer.echo(f"exported {result.exported} message(s) to {result.target} ({fmt})")


def register(app: typer.Typer) -> None:
    """Add `import` and `export` to the root app."""
    app.command("import")(import_cmd)
    app.command("export", cls=QueryCommand)(export_cmd)
