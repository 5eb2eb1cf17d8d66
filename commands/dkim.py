"""`mailops dkim keygen|sign|verify|rotate` (docs/dkim.md)."""

from __future__ import annotations

import sys
from enum import StrEnum
from pathlib import Path

import typer

from .context import state
from .output import err, print_json

dkim_app = typer.Typer(
    help="DKIM keys: generate, sign, verify and rotate.\n\n"
         "Example: mailops dkim keygen --domain example.com --selector mail2026",
    no_args_is_help=True, rich_markup_mode=None)


class KeyTypeChoice(StrEnum):
    """Key algorithms dkimpy signs with."""

    rsa = "rsa"
    ed25519 = "ed25519"


def _data_dir(ctx: typer.Context) -> Path:
    return state(ctx).config.paths.data_dir


@dkim_app.command("keygen")
def keygen_cmd(
    ctx: typer.Context,
    domain: str = typer.Option(..., "--domain", metavar="D", help="The signing domain (d=)."),
    selector: str = typer.Option(..., "--selector", metavar="S", help="The selector (s=)."),
    key_type: KeyTypeChoice = typer.Option(KeyTypeChoice.rsa, "--type",
                                           help="rsa (every verifier) or ed25519 (RFC 8463)."),
    bits: int = typer.Option(2048, "--bits", help="RSA key size: 1024, 2048, 3072 or 4096."),
    use_keyring: bool = typer.Option(False, "--keyring",
                                     help="Keep the private key in the OS keyring, not a file."),
    ttl: int = typer.Option(3600, "--ttl", min=0, help="TTL of the printed record."),
    as_json: bool = typer.Option(False, "--json", help="Print the key and record as JSON."),
) -> None:
    """Make a DKIM key pair and print the TXT record to publish.

    The private key goes to DATA/dkim/DOMAIN/SELECTOR.key with mode 0600 (or the
    keyring with --keyring); an existing selector is never overwritten. The first
    key of a domain becomes the one `dkim sign` uses; later ones are switched to
    with `dkim rotate`.

    \b
    Examples:
      mailops dkim keygen --domain example.com --selector mail2026
      mailops dkim keygen --domain example.com --selector ed2026 --type ed25519 --json
    """
    from mailops.dkim import keystore
    from mailops.dkim.keys import generate_private_key, record_name, txt_rdata, zone_line

    data = _data_dir(ctx)
    pem = generate_private_key(key_type.value, bits)
    stored = keystore.save_key(data, domain, selector, pem, use_keyring=use_keyring)
    active = keystore.active_selectors(data).get(stored.domain)
    if active is None:
        keystore.set_active_selector(data, stored.domain, stored.selector)
        active = stored.selector
    name = record_name(stored.domain, stored.selector)
    line = zone_line(name, ttl, txt_rdata(stored.txt))
    where = ("keyring" if use_keyring
             else str(keystore.key_file(data, stored.domain, stored.selector)))
    if as_json:
        print_json({**stored.as_dict(), "name": name.to_text(), "ttl": ttl,
                    "zone_line": line, "key": where, "active": active == stored.selector})
        return
    typer.echo(line)
    err(f"private key: {where} ({stored.key_type}, {stored.bits} bits); "
        + ("signing with this selector" if active == stored.selector
           else f"signing still uses {active}: switch with `mailops dkim rotate`"))


def _read_message(path: str) -> bytes:
    from mailops.errors import UsageError

    if path == "-":
        return sys.stdin.buffer.read()
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror or exc}") from None


@dkim_app.command("sign")
def sign_cmd(
    ctx: typer.Context,
    file: str = typer.Argument(..., metavar="FILE", help="The message (.eml); - for stdin."),
    domain: str | None = typer.Option(None, "--domain", metavar="D",
                                      help="Signing domain (default: the From domain)."),
    selector: str | None = typer.Option(None, "--selector", metavar="S",
                                        help="Selector (default: the domain's active one)."),
) -> None:
    """Sign a message with DKIM and write it, signed, to stdout.

    Without --selector the domain's active selector is used (the first keygen of a
    domain sets it; `dkim rotate` switches it). Headers and body are canonicalized
    relaxed/relaxed; RSA keys sign rsa-sha256, ed25519 keys ed25519-sha256.

    \b
    Examples:
      mailops dkim sign message.eml > signed.eml
      mailops dkim sign - --domain example.com --selector mail2026 < message.eml
    """
    from mailops.dkim import keystore
    from mailops.dkim.keys import check_domain
    from mailops.dkim.signing import from_domain, sign_message
    from mailops.errors import DkimError, UsageError

    message = _read_message(file)
    data = _data_dir(ctx)
    if domain is None:
        domain = from_domain(message)
        if domain is None:
            raise UsageError("the message has no From address: pass --domain")
    domain = check_domain(domain)
    if selector is None:
        selector = keystore.active_selectors(data).get(domain)
        if selector is None:
            raise DkimError(f"no active selector for {domain}: pass --selector or run "
                            f"`mailops dkim keygen --domain {domain} --selector NAME`")
    signed = sign_message(message, domain, selector, keystore.load_key(data, domain, selector))
    sys.stdout.buffer.write(signed)
    sys.stdout.buffer.flush()


@dkim_app.command("verify")
def verify_cmd(
    file: str = typer.Argument(..., metavar="FILE", help="The message (.eml); - for stdin."),
    nameserver: str | None = typer.Option(None, "--nameserver", metavar="IP[:PORT]",
                                          help="Look keys up at this server (default: the "
                                               "system resolver)."),
    timeout: float = typer.Option(5.0, "--timeout", min=0.1, help="Seconds per key lookup."),
    as_json: bool = typer.Option(False, "--json", help="Print one object per signature."),
) -> None:
    """Verify a message's DKIM signatures (dkimpy); exit 0 when one passes.

    Exit codes: 0 a signature passed, 1 none did (or there is none), 2 usage,
    21 a key lookup failed (timeout, SERVFAIL: not the same as a bad signature).

    \b
    Examples:
      mailops dkim verify signed.eml
      mailops dkim verify signed.eml --nameserver 127.0.0.1:5353 --json
    """
    from mailops.dkim.lookup import dkim_dnsfunc, parse_nameserver
    from mailops.dkim.signing import verify_message

    server = parse_nameserver(nameserver) if nameserver else None
    results = verify_message(_read_message(file), dkim_dnsfunc(server, timeout))
    if as_json:
        print_json([r.as_dict() for r in results])
    elif not results:
        typer.echo("none: the message has no DKIM-Signature")
    for r in results if not as_json else []:
        verdict = "pass" if r.passed else f"fail: {r.reason}"
        typer.echo(f"{verdict} (d={r.domain} s={r.selector} a={r.algorithm})")
    if not any(r.passed for r in results):
        raise typer.Exit(1)


def _grace_seconds(text: str) -> float:
    from mailops.errors import UsageError
    from mailops.retention import parse_duration

    if text.strip() in {"0", "0s", "0m", "0h", "0d"}:
        return 0.0
    try:
        return parse_duration(text)
    except ValueError as exc:
        raise UsageError(f"--grace: {exc}") from None


@dkim_app.command("rotate")
def rotate_cmd(
    ctx: typer.Context,
    domain: str = typer.Option(..., "--domain", metavar="D", help="The signing domain."),
    new: str = typer.Option(..., "--new", metavar="S2", help="The new selector."),
    old: str | None = typer.Option(None, "--old", metavar="S1",
                                   help="The selector to retire (default: the active one)."),
    nameserver: str = typer.Option(..., "--nameserver", metavar="IP[:PORT]",
                                   help="The zone's primary (authoritative) server."),
    tsig_key_file: Path | None = typer.Option(None, "--tsig-key-file", metavar="F",
                                              help="TSIG key allowed to update the zone "
                                                   "(BIND, Knot or ALG:NAME:SECRET)."),
    zone: str | None = typer.Option(None, "--zone", metavar="Z",
                                    help="The zone to update (default: found from its SOA)."),
    key_type: KeyTypeChoice = typer.Option(KeyTypeChoice.rsa, "--type",
                                           help="Type of a new key (when S2 has none)."),
    bits: int = typer.Option(2048, "--bits", help="RSA size of a new key."),
    ttl: int = typer.Option(3600, "--ttl", min=0, help="TTL of the records published."),
    grace: str = typer.Option("2d", "--grace", metavar="DURATION",
                              help="Keep the old key this long after the switch before "
                                   "revoking it (0 for at once)."),
    wait_timeout: float = typer.Option(120.0, "--wait-timeout", min=0,
                                       help="Seconds to wait for the servers to show the key."),
    wait_on: list[str] = typer.Option([], "--wait-on", metavar="IP[:PORT]",
                                      help="Also wait until this server (a secondary, a "
                                           "resolver) shows the new key (repeatable)."),
    max_steps: int | None = typer.Option(None, "--max-steps", min=1, metavar="N",
                                         help="Do at most N steps, then stop (resume later)."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Print the plan; change nothing."),
    as_json: bool = typer.Option(False, "--json", help="Print the steps as JSON."),
) -> None:
    """Rotate a domain's DKIM key: keygen, publish, wait, switch, revoke.

    The new key's TXT record is added by an RFC 2136 update signed with TSIG; once
    the server answers with it, `dkim sign` switches to the new selector; after
    --grace the old selector is published with an empty p= (revoked). Progress is
    kept in DATA/dkim/DOMAIN/rotate-S2.json: rerun the same command after a crash,
    or from cron until it reports the rotation complete (then it is a no-op).
    Exits 0 when every step possible now is done (also while the grace period
    runs), 22 when a step fails (update refused, key never visible).

    \b
    Examples:
      mailops dkim rotate --domain example.com --new mail2027 --nameserver 192.0.2.53 \\
          --tsig-key-file /etc/mailops/update.key --dry-run
      mailops dkim rotate --domain example.com --old mail2026 --new mail2027 \\
          --nameserver 192.0.2.53:53 --tsig-key-file update.key --grace 0 \\
          --wait-on 192.0.2.54 --wait-on 198.51.100.53
    """
    from mailops.dkim import keystore
    from mailops.dkim.keys import check_domain, check_selector
    from mailops.dkim.lookup import parse_nameserver
    from mailops.dkim.rotate import Rotation, RotationOptions, StepOutcome, recorded_old
    from mailops.dkim.tsig import read_tsig_file
    from mailops.errors import UsageError

    data = _data_dir(ctx)
    domain, new = check_domain(domain), check_selector(new)
    server = parse_nameserver(nameserver)
    if old is None:
        old = recorded_old(data, domain, new) or keystore.active_selectors(data).get(domain)
        if old is None or old == new:
            raise UsageError(f"no active selector for {domain} to retire: pass --old")
    if tsig_key_file is None and not dry_run:
        raise UsageError("--tsig-key-file is required (the update must be signed)")
    opts = RotationOptions(
        domain=domain, old=old, new=new, nameserver=server,
        tsig=read_tsig_file(tsig_key_file) if tsig_key_file else None, zone=zone, ttl=ttl,
        key_type=key_type.value, bits=bits, grace=_grace_seconds(grace),
        wait_timeout=wait_timeout, wait_on=tuple(parse_nameserver(w) for w in wait_on))

    def show(outcome: StepOutcome) -> None:
        if not as_json:
            typer.echo(f"{outcome.step:8} {outcome.status:8} {outcome.detail}")

    rotation = Rotation(data, opts, log=show)
    if not as_json:
        typer.echo(f"{'dry run: ' if dry_run else ''}rotate {domain} DKIM from {old} to {new} "
                   f"at {server}")
    outcomes = rotation.run(dry_run=dry_run, max_steps=max_steps)
    if as_json:
        print_json({"domain": domain, "old": old, "new": new, "dry_run": dry_run,
                    "complete": rotation.complete,
                    "steps": [o.as_dict() for o in outcomes]})
    elif rotation.complete:
        typer.echo("rotation complete")
    elif not dry_run:
        typer.echo("rotation not finished: run the same command again to continue")


def register(app: typer.Typer) -> None:
    """Add the `dkim` group to the root app."""
    app.add_typer(dkim_app, name="dkim")
