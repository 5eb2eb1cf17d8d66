"""`mailops audit`: the mail-DNS audit of domains, for people, cron and CI."""

from __future__ import annotations

import dataclasses
import sys
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from .context import open_store, state
from .output import err, print_json, use_color

if TYPE_CHECKING:
    from mailops.audit import DomainReport, Finding, Severity
    from mailops.audit.history import Changes

HELP = """Audit the mail DNS of domains: MX, SPF, DMARC, DKIM, MTA-STS (record and
policy), TLS-RPT, BIMI, DNSSEC, reverse DNS of MX hosts and, with --dnsbl, blocklists.

Every finding has a stable code (documented in docs/checks.md), a severity
(error, warning, info), the records seen and, where there is one, the fix.
A resolver failure is reported as dns.lookup_failed, never as a missing record.
Exit codes: 0 nothing at or above --fail-on, 1 findings at or above it, 2 usage
or operational error. Domains are audited concurrently.

Each run is stored (unless --no-store): --changed reports only what changed
since a domain's previous run (exit 1 only when a changed domain has findings at
or above --fail-on), --history DOMAIN shows the timeline. DKIM selectors also
come from the config: [audit] selectors and [audit.domains."D"] selectors.

\b
Examples:
  mailops audit example.org
  mailops audit -f domains.txt --json --fail-on warning
  mailops audit example.org --dnsbl zen.spamhaus.org
  mailops audit example.org --selector s2026 --nameserver 127.0.0.1:5353
  mailops audit -f domains.txt --quiet --junit audit.xml --ignore bimi.missing
  mailops audit example.test --nameserver 127.0.0.1:5353 --trust-anchor ds.txt
  mailops audit -f domains.txt --changed --quiet
  mailops audit --history example.org --json
"""


class FailOn(StrEnum):
    """Severity threshold for exit code 1."""

    error = "error"
    warning = "warning"
    info = "info"


def audit_cmd(
    ctx: typer.Context,
    domains: list[str] = typer.Argument(None, metavar="DOMAIN...",
                                        help="Domains to audit."),
    file: Path | None = typer.Option(None, "--file", "-f", metavar="FILE",
                                     help="Read domains from FILE (one per line, # comments; "
                                     "- for stdin)."),
    nameserver: list[str] = typer.Option(None, "--nameserver", metavar="IP[:PORT]",
                                         help="Ask this resolver (repeatable; default: "
                                         "audit.nameservers, else the system's)."),
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
    timeout: float | None = typer.Option(None, "--timeout", min=0.1, metavar="SECONDS",
                                         help="Give up on one DNS lookup after this long "
                                         "(default: audit.timeout, 5)."),
    concurrency: int = typer.Option(100, "--concurrency", min=1, metavar="N",
                                    help="DNS queries (and domains) in flight at once."),
    trust_anchor: Path | None = typer.Option(None, "--trust-anchor", metavar="FILE",
                                             help="DS or DNSKEY records (zone-file format) "
                                             "to validate DNSSEC from (default: "
                                             "audit.trust_anchor, else the root's)."),
    no_dnssec: bool = typer.Option(False, "--no-dnssec", help="Skip the DNSSEC checks."),
    dnsbl: list[str] = typer.Option(None, "--dnsbl", metavar="ZONE",
                                    help="Look MX addresses up in this DNS blocklist "
                                    "(repeatable; default: audit.dnsbl, none)."),
    no_dkim_probe: bool = typer.Option(False, "--no-dkim-probe",
                                       help="Check only the --selector names, not the "
                                       "common DKIM selectors."),
    smtp: bool | None = typer.Option(None, "--smtp/--no-smtp",
                                     help="Probe each MX host over SMTP (port 25): banner, "
                                     "STARTTLS, certificate, open relay. On unless "
                                     "--no-smtp or audit.smtp = false."),
    changed: bool = typer.Option(False, "--changed",
                                 help="Report only what changed since each domain's "
                                 "last stored run."),
    store: bool = typer.Option(True, "--store/--no-store",
                               help="Store this run for --changed and --history "
                               "(default: on)."),
    history: str | None = typer.Option(None, "--history", metavar="DOMAIN",
                                       help="Show DOMAIN's stored runs and what changed "
                                       "between them (no audit is run)."),
    limit: int = typer.Option(50, "--limit", min=1, metavar="N",
                              help="With --history: the N most recent runs."),
) -> None:
    from mailops.audit import (
        Severity,
        audit,
        load_trust_anchors,
        read_domain_file,
        unknown_codes,
        write_junit,
    )
    from mailops.audit.health import options_from_config
    from mailops.errors import AuditError, UsageError

    if history is not None:
        if domains or file is not None or changed:
            raise UsageError("--history takes one domain and no other domains or --changed")
        _show_history(ctx, history, limit, as_json)
        return
    names = list(domains or [])
    if file is not None:
        names += (_stdin_domains() if str(file) == "-" else read_domain_file(file))
    if not names:
        raise UsageError("name at least one domain, or a file with -f")
    codes = frozenset(c.strip() for item in (ignore or []) for c in item.split(",")
                      if c.strip())
    for code in unknown_codes(codes):
        err(f"warning: --ignore {code} matches no known finding code")
    config = state(ctx).config
    # The [audit] settings (file, then MAILOPS_AUDIT_*) are the defaults; flags win.
    base = options_from_config(config)
    options = dataclasses.replace(
        base, nameservers=list(nameserver) if nameserver else base.nameservers,
        selectors=[*(selector or []), *base.selectors],
        timeout=timeout if timeout is not None else base.timeout,
        concurrency=concurrency, ignore=codes, probe_selectors=not no_dkim_probe,
        dnssec=base.dnssec and not no_dnssec,
        trust_anchors=(load_trust_anchors(trust_anchor) if trust_anchor is not None
                       else base.trust_anchors),
        dnsbl_zones=([z.strip(".") for z in dnsbl if z.strip(".")] if dnsbl
                     else base.dnsbl_zones),
        smtp=smtp if smtp is not None else base.smtp)
    level = Severity(fail_on.value)
    # Opened before the audit: a store that cannot open (a missing key) fails fast.
    db = open_store(ctx) if store or changed else None
    try:
        bar = _progress(len(names), enabled=not quiet and not as_json)
        try:
            reports = audit(names, options, progress=bar.advance if bar else None)
        finally:
            if bar:
                bar.close()
        diffs = None
        if db is not None:
            from mailops.audit.history import record

            diffs = record(db, reports, save=store, ignore=codes,
                           keep=max(0, config.get_int("audit.keep_runs")))
    finally:
        if db is not None:
            db.close()
    if junit is not None:
        try:
            write_junit(junit, reports, level)
        except OSError as exc:
            raise AuditError(f"cannot write {junit}: {exc.strerror}") from None
    if changed:
        assert diffs is not None
        _report_changes([d for d in diffs if d.changed], len(reports), level, quiet=quiet,
                        as_json=as_json)
        return
    failing = any(r.at_or_above(level) for r in reports)
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


def _report_changes(diffs: list[Changes], total: int, level: Severity, *, quiet: bool,
                    as_json: bool) -> None:
    """--changed: print the domains whose findings changed; exit 1 when one of them has
    a finding at or above --fail-on. --quiet prints only when that happens."""
    failing = [d for d in diffs if d.at_or_above(level)]
    if quiet and not failing:
        return
    if as_json:
        print_json([d.to_dict() for d in diffs])
    else:
        _print_changes(failing if quiet else diffs, total)
    if failing:
        raise typer.Exit(1)


def _print_changes(diffs: list[Changes], total: int) -> None:
    from rich.console import Console
    from rich.markup import escape

    from mailops.audit.history import iso_time

    console = Console(soft_wrap=True, no_color=not use_color(), highlight=False)
    if not diffs:
        console.print(f"no changes since the last run ({total} domain{'s' * (total != 1)})")
        return
    for d in diffs:
        since = (f"since {_when(iso_time(d.previous_at))}" if d.previous_at is not None
                 else "first stored run")
        parts = [f"{len(x)} {name}" for x, name in ((d.new, "new"), (d.resolved, "resolved"),
                                                    (d.severity_changed, "changed severity"))
                 if x]
        console.print(f"[bold]{escape(d.domain)}[/bold]  {since}: {', '.join(parts)}")
        for label, items in (("new", d.new), ("resolved", d.resolved),
                             ("changed", d.severity_changed)):
            for f in sorted(items, key=lambda f: -_rank(f["severity"])):
                sev = f["severity"]
                was = f"{f['previous_severity']} -> " if "previous_severity" in f else ""
                style = "dim" if label == "resolved" else _STYLE[sev]
                console.print(f"  {label:<9}[{style}]{was}{sev:<7}[/{style}] "
                              f"[bold]{escape(f['code'])}[/bold]  {escape(f['message'])}")
                if label != "resolved":
                    for line in f["evidence"]:
                        console.print(f"              seen: {escape(line)}", style="dim")
                    if f.get("fix"):
                        console.print(f"              fix:  {escape(f['fix'])}", style="green")
        console.print()


def _show_history(ctx: typer.Context, domain: str, limit: int, as_json: bool) -> None:
    """--history DOMAIN: every stored run, its counts and what appeared or disappeared."""
    from mailops.audit import normalize_domain
    from mailops.audit.history import history, iso_time

    name = normalize_domain(domain)
    db = open_store(ctx, readonly=True)
    try:
        entries = history(db, name, limit)
    finally:
        db.close()
    if as_json:
        print_json({"domain": name, "runs": [e.to_dict() for e in entries]})
        return
    if not entries:
        typer.echo(f"no stored audit runs for {name}")
        return
    typer.echo(f"{name}: {len(entries)} run{'s' * (len(entries) != 1)} (oldest first)")
    for e in entries:
        counts = e.run.counts()
        summary = ", ".join(f"{n} {s}{'s' * (n != 1)}" for s, n in counts.items() if n)
        c = e.changes
        if c.previous_at is None:
            what = "first run"
        elif not c.changed:
            what = "no change"
        else:
            what = "  ".join([*(f"+{f['code']} ({f['severity']})" for f in c.new),
                              *(f"-{f['code']}" for f in c.resolved),
                              *(f"~{f['code']} ({f['previous_severity']} -> {f['severity']})"
                                for f in c.severity_changed)])
        typer.echo(f"{_when(iso_time(e.run.run_at))}  {summary or 'no findings':<34}  {what}")


def _when(iso: str | None) -> str:
    return (iso or "").replace("T", " ").replace("Z", " UTC")


def _rank(severity: str) -> int:
    return ("info", "warning", "error").index(severity)


def register(app: typer.Typer) -> None:
    """Add `audit` to the root app."""
    app.command("audit", help=HELP)(audit_cmd)

