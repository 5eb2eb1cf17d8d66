"""`mailops init`: create the store, optionally encrypted at rest (docs/security.md)."""

from __future__ import annotations

from pathlib import Path

import typer

from .context import state
from .output import print_json


def init_cmd(
    ctx: typer.Context,
    encrypt: bool = typer.Option(False, "--encrypt",
                                 help="Encrypt the whole store (AES-256, SQLCipher)."),
    key_source: str | None = typer.Option(
        None, "--key-source", metavar="keyring|passphrase|keyfile",
        help="Where the key lives (default keyring; needs --encrypt)."),
    key_file: Path | None = typer.Option(
        None, "--key-file", metavar="PATH",
        help="Key file for --key-source keyfile (created 0600 if missing; an existing "
             "one is reused)."),
    convert: bool = typer.Option(False, "--convert",
                                 help="With --encrypt: encrypt the existing plain store in "
                                      "place (stop the daemon first)."),
    as_json: bool = typer.Option(False, "--json", help="Print a JSON summary."),
) -> None:
    """Create a new, empty mail store; with --encrypt, encrypted at rest.

    Other commands create a plain store on first use; run init first to encrypt,
    or encrypt an existing plain store with --encrypt --convert.
    With --encrypt the whole database (raw messages, search index, WAL) is
    encrypted with AES-256 by SQLCipher. The key is a random 256-bit key in the OS
    keyring (default), a key file readable only by you, or a passphrase
    ($MAILOPS_PASSPHRASE, else asked on the terminal). A wrong or missing key
    later exits 24 and changes nothing. See docs/security.md.

    \b
    Examples:
      mailops init --encrypt
      mailops init --encrypt --key-source keyfile --key-file /etc/mailops/store.key
      MAILOPS_PASSPHRASE=... mailops init --encrypt --key-source passphrase
      mailops init --encrypt --convert     # an existing plain store
    """
    from mailops.errors import UsageError
    from mailops.keys import SOURCES, init_store

    if key_file is not None and key_source is None:
        key_source = "keyfile"
    if (key_source is not None or convert) and not encrypt:
        raise UsageError("--key-source, --key-file and --convert need --encrypt")
    source = key_source or "keyring"
    if source not in SOURCES:
        raise UsageError(f"--key-source {source!r}: expected {', '.join(SOURCES)}")
    if source != "keyfile" and key_file is not None:
        raise UsageError("--key-file goes with --key-source keyfile")
    result = init_store(state(ctx).config.paths.store_file, encrypt=encrypt, source=source,
                        key_file=key_file, convert=convert)
    if as_json:
        print_json(result.as_dict())
        return
    what = "encrypted mail store (AES-256, SQLCipher)" if result.encrypted else "mail store"
    done = "converted to an" if result.converted else "created"
    typer.echo(f"{done} {what} at {result.store}; {result.note}")


def register(app: typer.Typer) -> None:
    """Add `init` to the root app."""
    app.command("init")(init_cmd)
