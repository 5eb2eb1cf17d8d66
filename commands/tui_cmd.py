"""`mailops tui`: the interactive mailbox (docs/tui.md)."""

from __future__ import annotations

import typer

from .context import open_store, state


def tui_cmd(
    ctx: typer.Context,
    home: str | None = typer.Option(
        None, "--home", metavar="DIR",
        help="Use the store under DIR (same as `mailops --home DIR tui`)."),
    poll: float = typer.Option(1.0, "--poll", min=0.05,
                               help="Seconds between checks for new mail."),
) -> None:
    """Open the interactive mailbox on the store: read, search, tag, move, delete.

    Keys: j/k move, Enter opens, / searches, q goes back (and quits), ? lists
    every key, Ctrl+P opens the command palette. New mail from a running
    `mailops serve` appears on its own.

    \b
    Examples:
      mailops tui
      mailops --home ./mail tui
    """
    if home is not None:
        state(ctx).home = home
    store = open_store(ctx)
    try:
        # Textual costs ~150 ms to import: only this command pays for it.
        from mailops.tui.app import MailopsApp  # type: ignore[import-not-found]

        while store.index_pending(1000) > 0:  # a daemon killed mid-indexing left some
            continue
        MailopsApp(store, poll_interval=poll).run()
    finally:
        store.close()


def register(app: typer.Typer) -> None:
    """Add `tui` to the root app."""
    app.command("tui")(tui_cmd)
