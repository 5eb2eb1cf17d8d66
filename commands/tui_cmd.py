"""`mailops tui`: the interactive mailbox (docs/tui.md)."""

from __future__ import annotations

import typer

from mailops.errors import UsageError

from .context import open_store, state


def tui_cmd(
    ctx: typer.Context,
    home: str | None = typer.Option(
        None, "--home", metavar="DIR",
        help="Use the store under DIR (same as `mailops --home DIR tui`)."),
    poll: float = typer.Option(1.0, "--poll", min=0.05,
                               help="Seconds between checks for new mail."),
    serve: bool = typer.Option(False, "--serve",
                               help="Also run `mailops serve` (the catcher) while the TUI is "
                               "open, to watch mail arrive."),
    listen: str | None = typer.Option(None, "--listen", metavar="HOST:PORT",
                                      help="With --serve: where to listen (default: "
                                      "serve.listen)."),
) -> None:
    """Open the interactive mailbox on the store: read, search, tag, move, delete.

    Keys: j/k move, Enter opens, / searches, q goes back (and quits), ? lists
    every key, Ctrl+P opens the command palette. New mail from a running
    `mailops serve` appears on its own.

    \b
    Examples:
      mailops tui
      mailops --home ./mail tui
      mailops tui --serve --listen 127.0.0.1:2525
    """
    if home is not None:
        state(ctx).home = home
    if listen is not None and not serve:
        raise UsageError("--listen goes with --serve")
    store = open_store(ctx)
    catcher = None
    try:
        # Textual costs ~150 ms to import: only this command pays for it.
        from mailops.tui.app import MailopsApp  # type: ignore[import-not-found]

        while store.index_pending(1000) > 0:  # a daemon killed mid-indexing left some
            continue
        from mailops.tui.saved import FILE_NAME  # type: ignore[import-not-found]

        config = state(ctx).config
        app = MailopsApp(store, poll_interval=poll, saved_searches=config.saved_searches,
                         saved_file=config.paths.data_dir / FILE_NAME,
                         theme=config.get_str("tui.theme"), config=config)
        if serve:
            from mailops.tui.catcher import Catcher  # type: ignore[import-not-found]

            paths = config.paths
            catcher = Catcher(paths.run_dir, listen=listen,
                              home=paths.config_dir if paths.source == "--home" else None)
            app.catching = ", ".join(catcher.start())
        app.run()
    finally:
        if catcher is not None:
            catcher.stop()
        store.close()


def register(app: typer.Typer) -> None:
    """Add `tui` to the root app."""
    app.command("tui")(tui_cmd)
