"""Domain health at a glance: each domain's latest stored run, graded by area.

What the TUI's domain-health screen shows, kept here so it needs no SQL and no
knowledge of the code catalogue: the area a finding code belongs to (from its
prefix: `spf.lookup_limit` is SPF), a grade per area (fail: an error, warn: a
warning, pass: nothing worse than info), the domains to show (the configured
ones plus any with stored runs) and the audit options the config asks for.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mailops.errors import ConfigError, MailopsError, UsageError
from mailops.store.audits import audited_domains, latest_runs

from . import codes
from .dnssec import load_trust_anchors
from .runner import AuditOptions, normalize_domain

if TYPE_CHECKING:
    from mailops.config import Config
    from mailops.store import Store

FindingDict = dict[str, Any]

# Areas in the order a mail admin reads them; each takes the codes of its prefixes.
AREAS: tuple[str, ...] = ("MX", "SPF", "DKIM", "DMARC", "MTA-STS/TLS-RPT", "BIMI",
                          "DNSSEC/DANE", "PTR", "SMTP", "DNSBL", "DNS")
_PREFIXES = {"mx": "MX", "spf": "SPF", "dkim": "DKIM", "dmarc": "DMARC",
             "mta_sts": "MTA-STS/TLS-RPT", "tlsrpt": "MTA-STS/TLS-RPT", "bimi": "BIMI",
             "dnssec": "DNSSEC/DANE", "dane": "DNSSEC/DANE", "ptr": "PTR", "smtp": "SMTP",
             "dnsbl": "DNSBL", "dns": "DNS"}


def area_of(code: str) -> str:
    """The area of a finding code, from its prefix (`dane.mismatch` -> "DNSSEC/DANE").
    A prefix no area claims (a code newer than this table) falls under "DNS", the
    catch-all for lookups, rather than disappearing from the summary."""
    return _PREFIXES.get(code.split(".", 1)[0], "DNS")


# A failed lookup (`dns.*`) belongs where the lookup was for: its evidence line
# is "NAME TYPE: ..." (dnsclient.Answer.evidence).
_BY_TYPE = {"PTR": "PTR", "MX": "MX", "DS": "DNSSEC/DANE", "DNSKEY": "DNSSEC/DANE",
            "TLSA": "DNSSEC/DANE"}
_BY_LABEL = (("_dmarc.", "DMARC"), ("_domainkey.", "DKIM"),
             ("_mta-sts.", "MTA-STS/TLS-RPT"), ("_smtp._tls.", "MTA-STS/TLS-RPT"),
             ("_bimi.", "BIMI"))


def area_of_finding(finding: FindingDict) -> str:
    """The area of a stored finding: `area_of` its code, except that a failed lookup
    (`dns.lookup_failed`) goes to the area of the record it looked for, read from its
    first evidence line (a PTR lookup is PTR, `_dmarc.` DMARC, a TXT elsewhere SPF);
    what cannot be placed stays under "DNS"."""
    code = str(finding.get("code", ""))
    evidence = finding.get("evidence") or []
    if not code.startswith("dns.") or code == codes.DNS_NXDOMAIN or not evidence:
        return area_of(code)
    name, _, rest = str(evidence[0]).partition(" ")
    rdtype = (rest.split(":", 1)[0].split() or [""])[0]  # "TXT (via CNAME x): ..."
    for label, area in _BY_LABEL:
        if f".{label}" in f".{name.lower().rstrip('.')}.":
            return area
    if rdtype == "TXT":
        return "SPF"
    return _BY_TYPE.get(rdtype, "DNS")


class Grade(StrEnum):
    """An area's verdict: fail (an error), warn (a warning), pass (info or nothing)."""

    passed = "pass"
    warn = "warn"
    fail = "fail"


def grade(findings: Iterable[FindingDict]) -> Grade:
    """The grade of a set of findings (the worst severity decides)."""
    severities = {f.get("severity") for f in findings}
    if "error" in severities:
        return Grade.fail
    return Grade.warn if "warning" in severities else Grade.passed


_RANK = {"error": 0, "warning": 1, "info": 2}


@dataclass
class DomainHealth:
    """One domain's latest stored run (`run_at` None: never audited)."""

    domain: str
    run_at: float | None = None
    findings: list[FindingDict] = field(default_factory=list)

    def areas(self) -> dict[str, Grade]:
        """Every area's grade (an area with no finding passes)."""
        return {area: grade(f for f in self.findings if area_of_finding(f) == area)
                for area in AREAS}

    def worst_first(self) -> list[FindingDict]:
        """The findings, errors first, then warnings, then info; stable within each."""
        return sorted(self.findings, key=lambda f: _RANK.get(str(f.get("severity")), 3))


def health_domains(store: Store, configured: Iterable[str]) -> list[str]:
    """The domains to show: `configured` (normalised) plus every domain with a stored
    run, sorted, each once."""
    names = {normalize_domain(d) for d in configured}
    return sorted(names.union(audited_domains(store)))


def latest_health(store: Store, domains: Sequence[str]) -> list[DomainHealth]:
    """Each domain's latest stored run, in the order given (never-audited ones empty)."""
    runs = latest_runs(store, domains)
    out = []
    for domain in domains:
        run = runs.get(domain)
        out.append(DomainHealth(domain) if run is None
                   else DomainHealth(domain, run.run_at, list(run.findings)))
    return out


def options_from_config(config: Config) -> AuditOptions:
    """The audit options the config asks for: `[audit]` selectors, nameservers, timeout,
    smtp, dnssec, trust_anchor, dnsbl and the per-domain `[audit.domains."D"]` selectors.
    A malformed domain name or an unreadable trust-anchor file is a ConfigError."""
    try:
        per_domain = {normalize_domain(d): s for d, s in config.audit_domains.items()}
    except UsageError as exc:
        raise ConfigError(f"{config.audit_domains_source}: audit.domains: {exc.message}"
                          ) from None
    anchor = config.get("audit.trust_anchor")
    try:
        anchors = load_trust_anchors(Path(anchor) if anchor else None)
    except MailopsError as exc:  # unreadable (AuditError) or malformed (UsageError)
        raise ConfigError(f"audit.trust_anchor: {exc.message}") from None
    return AuditOptions(
        nameservers=config.get_list("audit.nameservers"),
        selectors=config.get_list("audit.selectors"), domain_selectors=per_domain,
        timeout=float(max(1, config.get_int("audit.timeout"))),
        dnssec=bool(config.get("audit.dnssec")), smtp=bool(config.get("audit.smtp")),
        trust_anchors=anchors,
        dnsbl_zones=[z.strip(".") for z in config.get_list("audit.dnsbl") if z.strip(".")])


def unchecked_areas(options: AuditOptions) -> frozenset[str]:
    """Areas a run with `options` does not look at (SMTP without the probe, DNSBL
    without zones, DNSSEC when off): their "pass" would mean nothing."""
    out = set()
    if not options.smtp:
        out.add("SMTP")
    if not options.dnsbl_zones:
        out.add("DNSBL")
    if not options.dnssec:
        out.add("DNSSEC/DANE")
    return frozenset(out)
