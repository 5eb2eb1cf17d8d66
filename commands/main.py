"""The `mailops` entry point: global flags, command registration, error handling.

Engine errors (`MailopsError`) become one line on stderr and their exit code;
see docs/exit-codes.md. Nothing here prints a traceback for a user mistake.
"""

from __future__ import annotations

import os
import sys

import typer

from mailops import __version__
from mailops.errors import MailopsError

from .context import ask_secret, state

# Modules that register commands, in `mailops --help` order, and which of them
# registers each top-level command or group. A run builds only the module its
# command needs: importing every module and turning all ~50 functions into click
# commands cost a fifth of `mailops ls`'s wall time. tests/test_cli_startup.py
# checks this table against what the modules register.
_MODULES = ("serve", "mailbox", "config_cmd", "doctor", "transfer", "send", "tags", "threads",
            "retention", "backup", "init", "dkim", "dns_cmd", "mta_sts", "tui_cmd", "audit")
_MODULE_OF = {
    "serve": "serve", "ls": "search", "search": "search", "count": "search",
    "show": "mailbox", "rm": "mailbox",
    "wait": "mailbox", "doctor": "doctor", "import": "transfer", "export": "transfer",
    "send": "send", "tag": "tags", "tags": "tags", "mv": "tags", "mark": "tags",
    "folders": "tags", "thread": "threads", "backup": "backup", "restore": "backup",
    "init": "init", "tui": "tui_cmd", "audit": "audit", "config": "config_cmd",
    "retention": "retention", "store": "retention", "dkim": "dkim", "dns": "dns_cmd",
    "mta-sts": "mta_sts",
}


def _version(value: bool) -> None:
    if value:
        typer.echo(f"mailops {__version__}")
        raise typer.Exit()


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


def build_app(command: str | None = None) -> typer.Typer:
    """The CLI: every command, or only those of the module that registers `command`
    (a top-level command or group name from `_MODULE_OF`)."""
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
    app.callback()(root)
    for name in _MODULES if command is None else (_MODULE_OF[command],):
        # __import__, not importlib.import_module: -X importtime only reports the former
        __import__(f"{__package__}.{name}", fromlist=["register"]).register(app)
    return app


_app: typer.Typer | None = None


def __getattr__(name: str) -> typer.Typer:
    """`app`, the whole CLI (built on first use: tests and tools walk it)."""
    global _app
    if name != "app":
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    if _app is None:
        _app = build_app()
    return _app


def _command_of(args: list[str]) -> str | None:
    """The top-level command these arguments run, when only its module is needed.

    None sends everything else to the whole CLI, so root help, unknown commands
    or options, and usage errors read exactly as before: no command yet, root
    flags other than --home, and shell completion (which may list every command).
    """
    if any(k.startswith("_") and k.endswith("_COMPLETE") for k in os.environ):
        return None
    i = 0
    while i < len(args):
        arg = args[i]
        if arg == "--home":
            i += 2
        elif arg.startswith("--home="):
            i += 1
        else:
            return arg if arg in _MODULE_OF else None
    return None


def run() -> None:
    """Console-script entry point."""
    app = build_app(_command_of(sys.argv[1:]))
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
