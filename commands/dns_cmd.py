"""`mailops dns records` (docs/dns-records.md)."""

from __future__ import annotations

import typer

from .context import state
from .output import print_json

dns_app = typer.Typer(
    help="DNS records for mail domains.\n\n"
         "Example: mailops dns records example.com --mx mail.example.com",
    no_args_is_help=True, rich_markup_mode=None)


@dns_app.command("records")
def records_cmd(
    ctx: typer.Context,
    domain: str = typer.Argument(..., metavar="DOMAIN", help="The mail domain."),
    mx: list[str] = typer.Option([], "--mx", metavar="HOST",
                                 help="Mail server, in preference order (repeatable)."),
    null_mx: bool = typer.Option(False, "--null-mx",
                                 help="The domain sends and receives no mail (RFC 7505)."),
    spf_include: list[str] = typer.Option([], "--spf-include", metavar="DOMAIN",
                                          help="SPF include: of a sending service (repeatable)."),
    ip: list[str] = typer.Option([], "--ip", metavar="ADDR[/LEN]",
                                 help="Other sending address or network (repeatable)."),
    dkim_selector: list[str] = typer.Option([], "--dkim-selector", metavar="S",
                                            help="Selector with a key from `dkim keygen` "
                                                 "(default: the domain's active one)."),
    dmarc_policy: str = typer.Option("reject", "--dmarc-policy",
                                     help="none, quarantine or reject."),
    rua: list[str] = typer.Option([], "--rua", metavar="mailto:ADDR",
                                  help="Where DMARC aggregate reports go (repeatable)."),
    mta_sts_mode: str | None = typer.Option(None, "--mta-sts-mode", metavar="MODE",
                                            help="Add MTA-STS: enforce or testing."),
    mta_sts_max_age: int = typer.Option(604800, "--mta-sts-max-age", metavar="SECONDS",
                                        help="max_age of the MTA-STS policy."),
    tlsrpt_rua: list[str] = typer.Option([], "--tlsrpt-rua", metavar="URI",
                                         help="Add TLS-RPT: mailto: or https: (repeatable)."),
    ttl: int = typer.Option(3600, "--ttl", min=0, help="TTL of every record."),
    as_json: bool = typer.Option(False, "--json", help="Print the records as JSON."),
) -> None:
    """Print the MX, SPF, DKIM, DMARC, MTA-STS and TLS-RPT records to publish.

    The output is zone-file text (notes as `;` comments) that can be pasted into a
    zone; --json gives the same records as objects. DKIM records come from keys made
    with `mailops dkim keygen`.

    \b
    Examples:
      mailops dns records example.com --mx mail.example.com --rua mailto:dmarc@example.com
      mailops dns records example.com --mx mx1.example.com --mx mx2.example.com \\
          --spf-include _spf.mailhost.example --ip 192.0.2.25 --mta-sts-mode enforce \\
          --tlsrpt-rua mailto:tls@example.com --json
      mailops dns records parked.example --null-mx
    """
    from mailops.dkim import keystore
    from mailops.dkim.keys import check_domain
    from mailops.dnsrecords import RecordsRequest, recommend
    from mailops.errors import DkimError

    data = state(ctx).config.paths.data_dir
    name = check_domain(domain)
    selectors = list(dkim_selector)
    if not selectors and not null_mx:
        active = keystore.active_selectors(data).get(name)
        selectors = [active] if active else []
    dkim = []
    for selector in selectors:
        stored = keystore.describe_key(data, name, selector)
        if stored is None:
            raise DkimError(f"no DKIM key for selector {selector} of {name}; make one with "
                            f"`mailops dkim keygen --domain {name} --selector {selector}`")
        dkim.append((selector, stored.txt))
    rec = recommend(RecordsRequest(
        domain=name, mx=mx, spf_include=spf_include, ips=ip, dkim=dkim,
        dmarc_policy=dmarc_policy, rua=rua, mta_sts_mode=mta_sts_mode,
        mta_sts_max_age=mta_sts_max_age, tlsrpt_rua=tlsrpt_rua, null_mx=null_mx, ttl=ttl))
    if as_json:
        print_json(rec.as_dict())
    else:
        typer.echo(rec.zone_text(), nl=False)


def register(app: typer.Typer) -> None:
    """Add the `dns` group to the root app."""
    app.add_typer(dns_app, name="dns")
