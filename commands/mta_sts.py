"""`mailops mta-sts policy` (docs/dns-records.md#mta-sts)."""

from __future__ import annotations

from pathlib import Path

import typer

from .output import err

mta_sts_app = typer.Typer(
    help="MTA-STS policy files (RFC 8461).\n\n"
         "Example: mailops mta-sts policy --mx mail.example.com --mode testing",
    no_args_is_help=True, rich_markup_mode=None)


@mta_sts_app.command("policy")
def policy_cmd(
    mx: list[str] = typer.Option(..., "--mx", metavar="HOST",
                                 help="MX host or *.domain pattern (repeatable)."),
    mode: str = typer.Option("testing", "--mode", help="enforce, testing or none."),
    max_age: int = typer.Option(604800, "--max-age", metavar="SECONDS",
                                help="How long senders cache the policy (max one year)."),
    output: Path | None = typer.Option(None, "-o", "--output", metavar="FILE",
                                       help="Write the policy here instead of stdout."),
) -> None:
    """Write the MTA-STS policy file and print the matching `_mta-sts` TXT id.

    Serve the file as https://mta-sts.DOMAIN/.well-known/mta-sts.txt and publish
    `_mta-sts.DOMAIN TXT "v=STSv1; id=ID"`; the id is derived from the policy, so it
    changes exactly when the policy does. Start with --mode testing and TLS-RPT.

    \b
    Examples:
      mailops mta-sts policy --mx mail.example.com --mode testing
      mailops mta-sts policy --mx mx1.example.com --mx '*.backup.example' --mode enforce \\
          --max-age 1209600 -o /var/www/mta-sts/.well-known/mta-sts.txt
    """
    from mailops.errors import UsageError
    from mailops.mtastspolicy import build_policy, policy_id

    text = build_policy(mode, mx, max_age)
    if output is None:
        typer.echo(text, nl=False)
    else:
        try:
            output.write_text(text, encoding="ascii")
        except OSError as exc:
            raise UsageError(f"cannot write {output}: {exc.strerror or exc}") from None
    err(f'TXT for _mta-sts.DOMAIN: "v=STSv1; id={policy_id(text)}"')


def register(app: typer.Typer) -> None:
    """Add the `mta-sts` group to the root app."""
    app.add_typer(mta_sts_app, name="mta-sts")
