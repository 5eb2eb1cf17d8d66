"""The `mailops` entry point: global flags, command registration, error handling.

Engine errors (`MailopsError`) become one line on stderr and their exit code;
see docs/exit-codes.md. Nothing here prints a traceback for a user mistake.
"""

from __future__ import annotations

import sys

import typer

from mailops import __version__
from mailops.errors import MailopsError

from . import (
    audit,
    backup,
    config_cmd,
    dkim,
    dns_cmd,
    doctor,
    init,
    mailbox,
    mta_sts,
    retention,
    send,
    serve,
    tags,
    threads,
    transfer,
    tui_cmd,
)
from .context import ask_secret, state

app = typer.Typer(
    name="mailops",
    help="Mail operations from the terminal: catch, store, search and send mail.\n\n"
         "Example: mailops serve  (then, in another shell)  mailops ls",
    no_args_is_help=True,
    add_completion=False,
    context_settings={"help_option_names": ["-h", "--help"]},
    pretty_exceptions_enable=False,
    rich_markup_mode=None,  # plain help: rich help costs ~350 ms of imports at start-up
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"mailops {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    ctx: typer.Context,
    home: str | None = typer.Option(
        None, "--home", metavar="DIR",
        help="Keep config and data in DIR (overrides MAILOPS_HOME)."),
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                 help="Print the version and exit."),
) -> None:
    """Mail operations from the terminal."""
    state(ctx).home = home
    from mailops.keys import set_prompt

    set_prompt(ask_secret)  # an encrypted store's passphrase, when a person can type it


for module in (serve, mailbox, config_cmd, doctor, transfer, send, tags, threads, retention,
               backup, init, dkim, dns_cmd, mta_sts, tui_cmd, audit):
    module.register(app)


def run() -> None:
    """Console-script entry point."""
    try:
        code = app(standalone_mode=False)
    except MailopsError as exc:
        sys.stderr.write(f"mailops: error: {exc.message}\n")
        sys.exit(exc.exit_code)
    except typer.Abort:
        sys.stderr.write("mailops: aborted\n")
        sys.exit(130)
    except typer.TyperException as exc:  # click-style usage errors from the vendored parser
        # One line, not click's usage block: scripts grep stderr.
        if type(exc).__name__ == "NoArgsIsHelpError":  # a bare group: show its help
            sys.stderr.write(str(getattr(exc, "format_message", lambda: "")()) + "\n")
            sys.exit(2)
        ctx = getattr(exc, "ctx", None)
        where = f" (see: {ctx.command_path} --help)" if ctx is not None else ""
        fmt = getattr(exc, "format_message", None)
        text = fmt() if callable(fmt) else str(exc)
        sys.stderr.write(f"mailops: error: {text}{where}\n")
        sys.exit(int(getattr(exc, "exit_code", 2)))
    except KeyboardInterrupt:
        sys.exit(130)
    except BrokenPipeError:
        sys.exit(0)
    sys.exit(code if isinstance(code, int) else 0)
