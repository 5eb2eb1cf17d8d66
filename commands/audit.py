"""`mailops audit`: the mail-DNS audit of domains, for people, cron and CI."""

from __future__ import annotations

import sys
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from .output import err, print_json, use_color

if TYPE_CHECKING:
    from mailops.audit import DomainReport, Finding

HELP = """Audit the mail DNS of domains: MX, SPF, DMARC, DKIM, MTA-STS (record and
policy), TLS-RPT, BIMI, DNSSEC, reverse DNS of MX hosts and, with --dnsbl, blocklists.

Every finding has a stable code (documented in docs/checks.md), a severity
(error, warning, info), the records seen and, where there is one, the fix.
A resolver failure is reported as dns.lookup_failed, never as a missing record.
Exit codes: 0 nothing at or above --fail-on, 1 findings at or above it, 2 usage
or operational error. Domains are audited concurrently.

\b
Examples:
  mailops audit example.org
  mailops audit -f domains.txt --json --fail-on warning
  mailops audit example.org --dnsbl zen.spamhaus.org
  mailops audit example.org --selector s2026 --nameserver 127.0.0.1:5353
  mailops audit -f domains.txt --quiet --junit audit.xml --ignore bimi.missing
  mailops audit example.test --nameserver 127.0.0.1:5353 --trust-anchor ds.txt
"""


class FailOn(StrEnum):
    """Severity threshold for exit code 1."""

    error = "error"
    warning = "warning"
    info = "info"


def audit_cmd(
    domains: list[str] = typer.Argument(None, metavar="DOMAIN...",
                                        help="Domains to audit."),
    file: Path | None = typer.Option(None, "--file", "-f", metavar="FILE",
                                     help="Read domains from FILE (one per line, # comments; "
                                     "- for stdin)."),
    nameserver: list[str] = typer.Option(None, "--nameserver", metavar="IP[:PORT]",
                                         help="Ask this resolver (repeatable; default: the "
                                         "system's)."),
    selector: list[str] = typer.Option(None, "--selector", metavar="NAME",
                                       help="DKIM selector to check (repeatable; common "
                                       "selectors are probed too)."),
    ignore: list[str] = typer.Option(None, "--ignore", metavar="CODE",
                                     help="Suppress a finding code, or a pattern like "
                                     "'bimi.*' (repeatable; comma lists ok)."),
    fail_on: FailOn = typer.Option(FailOn.error, "--fail-on",
                                   help="Exit 1 when a finding is at or above this severity."),
    as_json: bool = typer.Option(False, "--json", help="Print a JSON list, one object per "
                                 "domain (see docs/audit.md)."),
    junit: Path | None = typer.Option(None, "--junit", metavar="FILE",
                                      help="Also write a JUnit XML report for CI."),
    quiet: bool = typer.Option(False, "--quiet", "-q",
                               help="Print nothing unless a finding is at or above --fail-on."),
    timeout: float = typer.Option(5.0, "--timeout", min=0.1, metavar="SECONDS",
                                  help="Give up on one DNS lookup after this long."),
    concurrency: int = typer.Option(100, "--concurrency", min=1, metavar="N",
                                    help="DNS queries (and domains) in flight at once."),
    trust_anchor: Path | None = typer.Option(None, "--trust-anchor", metavar="FILE",
                                             help="DS or DNSKEY records (zone-file format) "
                                             "to validate DNSSEC from (default: the root's)."),
    no_dnssec: bool = typer.Option(False, "--no-dnssec", help="Skip the DNSSEC checks."),
    dnsbl: list[str] = typer.Option(None, "--dnsbl", metavar="ZONE",
                                    help="Look MX addresses up in this DNS blocklist "
                                    "(repeatable; none by default)."),
    no_dkim_probe: bool = typer.Option(False, "--no-dkim-probe",
                                       help="Check only the --selector names, not the "
                                       "common DKIM selectors."),
    smtp: bool = typer.Option(True, "--smtp/--no-smtp",
                              help="Probe each MX host over SMTP (port 25): banner, "
                              "STARTTLS, certificate, open relay. On by default; "
                              "--no-smtp skips it."),
) -> None:
    from mailops.audit import (
        AuditOptions,
        Severity,
        audit,
        load_trust_anchors,
        read_domain_file,
        unknown_codes,
        write_junit,
    )
    from mailops.errors import AuditError, UsageError

    names = list(domains or [])
    if file is not None:
        names += (_stdin_domains() if str(file) == "-" else read_domain_file(file))
    if not names:
        raise UsageError("name at least one domain, or a file with -f")
    codes = frozenset(c.strip() for item in (ignore or []) for c in item.split(",")
                      if c.strip())
    for code in unknown_codes(codes):
        err(f"warning: --ignore {code} matches no known finding code")
    options = AuditOptions(nameservers=list(nameserver or []), selectors=list(selector or []),
                           timeout=timeout, concurrency=concurrency, ignore=codes,
                           probe_selectors=not no_dkim_probe, dnssec=not no_dnssec,
                           trust_anchors=load_trust_anchors(trust_anchor),
                           dnsbl_zones=[z.strip(".") for z in dnsbl or [] if z.strip(".")],
                           smtp=smtp)
    level = Severity(fail_on.value)
    bar = _progress(len(names), enabled=not quiet and not as_json)
    try:
        reports = audit(names, options, progress=bar.advance if bar else None)
    finally:
        if bar:
            bar.close()
    failing = any(r.at_or_above(level) for r in reports)
    if junit is not None:
        try:
            write_junit(junit, reports, level)
        except OSError as exc:
            raise AuditError(f"cannot write {junit}: {exc.strerror}") from None
    if not (quiet and not failing):
        if as_json:
            print_json([r.to_dict() for r in reports])
        else:
            _print_report(reports, level if quiet else None)
    if failing:
        raise typer.Exit(1)


def _stdin_domains() -> list[str]:
    return [line.split("#", 1)[0].strip() for line in sys.stdin
            if line.split("#", 1)[0].strip()]


class _Progress:
    """Counts finished domains on a lazy rich bar (stderr, TTY only, long runs only)."""

    def __init__(self, total: int) -> None:
        from .transfer import _LazyBar

        self.bar = _LazyBar("auditing", total, unit_bytes=False)
        self.done = 0

    def advance(self, _report: DomainReport) -> None:
        self.done += 1
        self.bar.update(self.done)

    def close(self) -> None:
        self.bar.close()


def _progress(total: int, *, enabled: bool) -> _Progress | None:
    return _Progress(total) if enabled and total > 1 and sys.stderr.isatty() else None


_STYLE = {"error": "bold red", "warning": "yellow", "info": "cyan"}


def _print_report(reports: list[DomainReport], only_at_or_above: object | None) -> None:
    """The report for people: per domain, findings worst first, with what was seen and
    the fix. `only_at_or_above` (a Severity) limits it to failing findings (--quiet)."""
    from rich.console import Console
    from rich.markup import escape

    from mailops.audit import Severity

    console = Console(soft_wrap=True, no_color=not use_color(), highlight=False)
    for report in reports:
        findings: list[Finding] = sorted(report.findings, key=lambda f: -f.severity.rank)
        if isinstance(only_at_or_above, Severity):
            findings = [f for f in findings if f.severity.rank >= only_at_or_above.rank]
            if not findings:
                continue
        counts = {s: sum(f.severity.value == s for f in findings) for s in _STYLE}
        summary = ", ".join(f"{n} {s}{'s' if n != 1 else ''}" for s, n in counts.items() if n)
        console.print(f"[bold]{escape(report.domain)}[/bold]  {summary or 'no findings'}")
        for f in findings:
            style = _STYLE[f.severity.value]
            console.print(f"  [{style}]{f.severity.value:<7}[/{style}] "
                          f"[bold]{escape(f.code)}[/bold]  {escape(f.message)}")
            for line in f.evidence:
                console.print(f"            seen: {escape(line)}", style="dim")
            if f.fix:
                console.print(f"            fix:  {escape(f.fix)}", style="green")
        console.print()


def register(app: typer.Typer) -> None:
    """Add `audit` to the root app."""
    app.command("audit", help=HELP)(audit_cmd)

