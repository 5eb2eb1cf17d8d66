"""`mailops backup` (and `backup --verify`) and `mailops restore` (docs/backup.md)."""

from __future__ import annotations

from pathlib import Path

import typer

from .context import state
from .output import print_json


def _size(n: int) -> str:
    from .retention import human_bytes

    return human_bytes(n)


def backup_cmd(
    ctx: typer.Context,
    path: Path = typer.Argument(..., metavar="DEST|FILE",
                                help="File or directory to write (with --verify: the "
                                     "backup file to check)."),
    verify: bool = typer.Option(False, "--verify",
                                help="Check FILE instead: integrity, counts, every sha256."),
    force: bool = typer.Option(False, "--force", help="Overwrite an existing DEST file."),
    as_json: bool = typer.Option(False, "--json", help="Print a JSON summary."),
) -> None:
    """Copy the store to DEST while the daemon keeps running, or check a backup.

    DEST is a file, or a directory that gets mailops-<UTC time>.db. The copy is one
    consistent snapshot and is written under a temporary name first, so a backup
    file is either complete or absent. `--verify FILE` runs SQLite's integrity check
    and decompresses every message to compare it with its sha256; exits 9 if
    anything is wrong.

    \b
    Examples:
      mailops backup /var/backups/mailops/
      mailops backup ./mail.db --force --json
      mailops backup --verify /var/backups/mailops/mailops-20261128T031500Z.db
    """
    if verify:
        _verify(path, as_json, state(ctx).config.paths.store_file)
        return
    from mailops.backup import backup_store

    result = backup_store(state(ctx).config.paths.store_file, path, force=force)
    if as_json:
        print_json(result.as_dict())
        return
    typer.echo(f"backed up {result.messages} message(s) to {result.path} "
               f"({_size(result.file_bytes)}, {result.seconds:.1f} s)")


def _verify(path: Path, as_json: bool, store_path: Path) -> None:
    from mailops.backup import verify_backup
    from mailops.errors import BackupError

    result = verify_backup(path, store_path)  # an encrypted backup: its marker or the store's
    if as_json:
        print_json(result.as_dict())
    elif result.ok:
        typer.echo(f"ok: {path}: {result.messages} message(s), {result.hashes_checked} "
                   f"sha256 checked, {_size(result.raw_bytes)} of mail, integrity ok")
    if not result.ok:
        more = (f" (and {len(result.problems) - 1} more problem(s); --json lists them)"
                if len(result.problems) > 1 else "")
        raise BackupError(f"{path} is damaged: {result.problems[0]}{more}")


def restore_cmd(
    ctx: typer.Context,
    path: Path = typer.Argument(..., metavar="FILE", help="A file made by `mailops backup`."),
    force: bool = typer.Option(False, "--force",
                               help="Replace a store that holds messages (or is unreadable)."),
    as_json: bool = typer.Option(False, "--json", help="Print a JSON summary."),
) -> None:
    """Replace the store with a backup; the current store is kept as <store>.bak.

    The backup is verified first (as `backup --verify`). Stop the daemon first:
    restore refuses (exit 20) while another process has the store open, and
    refuses to replace a store that holds messages unless --force.

    \b
    Examples:
      mailops serve --stop --pidfile /tmp/m.pid
      mailops restore /var/backups/mailops/mailops-20261128T031500Z.db --force
    """
    from mailops.backup import restore_store

    result = restore_store(path, state(ctx).config.paths.store_file, force=force)
    if as_json:
        print_json(result.as_dict())
        return
    kept = f"; previous store kept as {result.previous}" if result.previous else ""
    typer.echo(f"restored {result.messages} message(s) from {result.backup}{kept}")


def register(app: typer.Typer) -> None:
    """Add `backup` and `restore` to the root app."""
    app.command("backup")(backup_cmd)
    app.command("restore")(restore_cmd)
