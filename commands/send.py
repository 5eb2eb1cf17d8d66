"""`mailops send`: send one message over SMTP (a swaks-like test sender)."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

import typer

from .context import state
from .output import err, print_json

HELP = """Send one message over SMTP: build it from flags, or send an .eml file as-is.

No STARTTLS unless --starttls is given; --tls is implicit TLS (SMTPS). The AUTH
password comes from $MAILOPS_SMTP_PASSWORD, the OS keyring (service "mailops")
or a prompt. Exit codes: 10 connect, 11 TLS, 12 auth, 13 MAIL FROM, 14 RCPT TO
(all refused), 15 DATA, 16 message build, 2 usage (see docs/send.md).

\b
Examples:
  mailops send --to you@example.test --subject hello --body 'it works'
  mailops send --server 127.0.0.1:2525 --to a@x.test,b@x.test --bcc audit@x.test \\
      --body @body.txt --attach report.pdf --header 'X-Campaign: spring'
  git log -1 | mailops send --to dev@x.test --subject 'last commit' --body -
  mailops send --eml saved.eml --server mail.example.com:587 --starttls \\
      --auth-user alice --json
"""


def send_cmd(
    ctx: typer.Context,
    server: str | None = typer.Option(None, "--server", "-s", metavar="HOST:PORT",
                                      help="SMTP server (default: config send.server)."),
    sender: str | None = typer.Option(None, "--from", "-f", metavar="ADDR",
                                      help="Envelope sender and From (default: config "
                                      "send.from; with --eml: its From header)."),
    to: list[str] = typer.Option(None, "--to", "-t", metavar="ADDR",
                                 help="Recipient (repeatable; comma lists ok)."),
    cc: list[str] = typer.Option(None, "--cc", metavar="ADDR", help="Cc recipient (repeatable)."),
    bcc: list[str] = typer.Option(None, "--bcc", metavar="ADDR",
                                  help="Bcc recipient: envelope only, no header (repeatable)."),
    subject: str | None = typer.Option(None, "--subject", help="Subject line."),
    body: str | None = typer.Option(None, "--body", "-b", metavar="TEXT|@FILE|-",
                                    help="Body text, @FILE to read a file, - for stdin."),
    attach: list[Path] = typer.Option(None, "--attach", "-a", metavar="FILE",
                                      help="Attach a file (repeatable; type from its name)."),
    header: list[str] = typer.Option(None, "--header", "-H", metavar="'NAME: VALUE'",
                                     help="Add a header, replacing one of that name "
                                     "(repeatable)."),
    eml: Path | None = typer.Option(None, "--eml", metavar="FILE",
                                    help="Send this message file as-is."),
    starttls: bool = typer.Option(False, "--starttls", help="Require STARTTLS."),
    tls: bool = typer.Option(False, "--tls", help="Implicit TLS from the first byte (SMTPS)."),
    insecure: bool = typer.Option(False, "--insecure", "-k",
                                  help="Do not verify the server's TLS certificate."),
    cafile: Path | None = typer.Option(None, "--cafile", metavar="PEM",
                                       help="Trust only the CA certificate(s) in this file."),
    auth_user: str | None = typer.Option(None, "--auth-user", "-u", metavar="USER",
                                         help="Log in as USER (password: see above)."),
    ehlo: str | None = typer.Option(None, "--ehlo", metavar="NAME",
                                    help="Name to send in EHLO (default: this host's name)."),
    timeout: int | None = typer.Option(None, "--timeout", min=1, metavar="SECONDS",
                                       help="Seconds to wait for each reply (default: config "
                                       "send.timeout)."),
    as_json: bool = typer.Option(False, "--json",
                                 help="Print the result and the SMTP transcript as JSON."),
) -> None:
    from mailops import compose
    from mailops import send as engine
    from mailops.errors import MailopsError, UsageError

    if starttls and tls:
        raise UsageError("--starttls and --tls exclude each other")
    if eml is not None and (subject is not None or body is not None or attach or header):
        raise UsageError("--eml sends the file as-is; it cannot be combined with --subject, "
                         "--body, --attach or --header")
    cfg = state(ctx).config
    for key, value in (("send.server", server), ("send.timeout", timeout)):
        if value is not None:
            cfg.set(key, value, "flag")
    # --tls/--starttls/--auth-user/--cafile win over [send] security/user/cafile.
    security: engine.Security | None = "tls" if tls else "starttls" if starttls else None
    user = auth_user if auth_user is not None else (cfg.get_str("send.user") or None)
    if ehlo is not None:
        engine.check_ehlo(ehlo)
    if eml is not None:
        message = compose.load_eml(eml, sender, [*(to or []), *(cc or []), *(bcc or [])])
    else:
        text = compose.read_body(body, sys.stdin.buffer) if body is not None else ""
        message = compose.build_message(compose.Draft(
            sender=sender if sender is not None else cfg.get_str("send.from"),
            to=to or [], cc=cc or [], bcc=bcc or [], subject=subject, body=text,
            attachments=attach or [], headers=header or []))
    # After the message: a bad body or attachment fails before any password prompt.
    opts = engine.options_from_config(
        cfg, security=security, auth_user=user, cafile=cafile,
        prompt=_prompt(user, cfg.get_str("send.server")) if user else None,
        insecure=insecure, ehlo=ehlo)
    address = opts.server
    steps: list[engine.Step] = []
    try:
        result = engine.send(message, opts, steps)
    except MailopsError as exc:
        if as_json:  # scripts still get the conversation up to the failure
            print_json({"ok": False, "server": str(address), "error": exc.message,
                        "exit_code": exc.exit_code, "message_id": message.message_id,
                        "envelope": {"mail_from": message.mail_from,
                                     "rcpt_to": message.rcpt_to},
                        "transcript": engine.transcript_dicts(steps)})
        raise
    for addr, reply in result.refused.items():
        err(f"warning: RCPT TO <{addr}> refused by {result.server}: {reply}")
    if as_json:
        print_json(result.to_dict())
        return
    count = len(result.accepted)
    typer.echo(f"sent <{result.message_id or 'no Message-ID'}> to {count} "
               f"recipient{'s' if count != 1 else ''} via {result.server}"
               f"{' (' + result.tls + ' TLS)' if result.tls else ''}: {result.reply}")


def _prompt(user: str, where: str) -> Callable[[], str] | None:
    """A password prompt, only when a person is at the terminal."""
    if not sys.stdin.isatty():
        return None

    def ask() -> str:
        import getpass

        from mailops.errors import SendError

        try:
            return getpass.getpass(f"SMTP password for {user} at {where}: ")
        except EOFError:  # Ctrl-D at the prompt
            raise SendError(f"no password given for {user}", exit_code=SendError.AUTH) from None

    return ask


def register(app: typer.Typer) -> None:
    """Add `send` to the root app."""
    app.command("send", help=HELP)(send_cmd)
