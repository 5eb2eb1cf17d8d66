"""Runs every check for many domains concurrently over one cached DNS client."""

from __future__ import annotations

import asyncio
import fnmatch
import multiprocessing as mp
import os
from collections.abc import Callable, Iterable
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path

import dns.exception
import dns.name

from mailops.errors import AuditError, UsageError

from . import codes
from .bimi import check_bimi
from .dkim import check_dkim
from .dmarc import DmarcResult, check_dmarc
from .dnsbl import check_dnsbl
from .dnsclient import DnsClient
from .dnssec import TrustAnchors, check_dnssec, parse_trust_anchors
from .findings import DomainReport, Finding
from .mtasts import check_mta_sts
from .mx import check_mx
from .ptr import check_ptr
from .smtp import check_smtp
from .spf import check_spf, softfail_finding
from .tlsrpt import check_tlsrpt


@dataclass
class AuditOptions:
    """What `mailops audit` was asked to do."""

    nameservers: list[str] = field(default_factory=list)
    selectors: list[str] = field(default_factory=list)
    # more selectors for some domains (config `[audit.domains."D"] selectors`)
    domain_selectors: dict[str, list[str]] = field(default_factory=dict)
    timeout: float = 5.0
    concurrency: int = 100
    ignore: frozenset[str] = frozenset()
    probe_selectors: bool = True
    dnssec: bool = True
    mta_sts_fetch: bool = True
    dnsbl_zones: list[str] = field(default_factory=list)
    smtp: bool = False  # the engine opts in; the CLI probes unless --no-smtp
    trust_anchors: TrustAnchors = field(default_factory=lambda: parse_trust_anchors(""))


def normalize_domain(text: str) -> str:
    """A domain as the checks use it: lower case, IDNA (A-labels), no trailing dot."""
    raw = text.strip().rstrip(".")
    if not raw or any(c.isspace() for c in raw) or "@" in raw or "/" in raw:
        raise UsageError(f"not a domain name: {text!r}")
    try:
        name = dns.name.from_unicode(raw)
    except dns.exception.DNSException as exc:
        raise UsageError(f"not a domain name: {text!r} ({exc})") from None
    return name.to_text(omit_final_dot=True).lower()


def read_domain_file(path: Path) -> list[str]:
    """Domains from a file: one per line; blank lines and `#` comments skipped."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise AuditError(f"cannot read {path}: {exc}") from None
    return [line.split("#", 1)[0].strip() for line in text.splitlines()
            if line.split("#", 1)[0].strip()]


def unknown_codes(wanted: Iterable[str]) -> list[str]:
    """--ignore values that match no code of the catalogue (a typo would silently match
    nothing)."""
    return sorted(w for w in set(wanted) if not any(ignored(c, frozenset([w]))
                                                    for c in codes.ALL_CODES))


async def audit_domain(client: DnsClient, domain: str, options: AuditOptions) -> DomainReport:
    """Every check for one domain, concurrently where they do not depend on each other."""
    dnssec = asyncio.create_task(check_dnssec(client, domain, options.trust_anchors)
                                 if options.dnssec else _nothing())
    mx = await check_mx(client, domain)
    mail_domain = not mx.null_mx
    # Receive-side checks need only the MX answer: start them now, alongside SPF/DMARC/DKIM
    # (each stage of waiting costs a round trip per domain in a bulk run).
    receive: list[asyncio.Task[list[Finding]]] = []
    if mail_domain:
        policy_hosts = list(mx.hosts) if options.mta_sts_fetch and mx.known else None
        receive = [asyncio.create_task(c) for c in (
            check_mta_sts(client, domain, policy_hosts, timeout=options.timeout),
            check_tlsrpt(client, domain), check_ptr(client, mx.hosts),
            check_dnsbl(client, mx.hosts, options.dnsbl_zones),
            check_smtp(client, mx.hosts, timeout=options.timeout)
            if options.smtp else _nothing())]
        # BIMI's verdict waits for DMARC; its lookup need not: warm the cache
        receive.append(asyncio.create_task(_prefetch(client, f"default._bimi.{domain}")))
    spf, dmarc, dkim = await asyncio.gather(
        check_spf(client, domain, null_mx=mx.null_mx), check_dmarc(client, domain),
        check_dkim(client, domain, _selectors(options, domain), probe=mail_domain
                   and options.probe_selectors))
    findings: list[Finding] = [*mx.findings, *spf.findings]
    if spf.all_qualifier == "~" and spf.record and dmarc.known and not dmarc.enforcing:
        findings.append(softfail_finding(domain, spf.record, dmarc.policy))
    findings += dmarc.findings + dkim.findings
    if mail_domain:
        bimi = await check_bimi(client, domain, _enforcing(dmarc))
        groups = await asyncio.gather(*receive)
        findings += [*groups[0], *groups[1], *bimi, *[f for g in groups[2:] for f in g]]
    findings += await dnssec
    return DomainReport(domain, [f for f in findings if not ignored(f.code, options.ignore)])


def _selectors(options: AuditOptions, domain: str) -> list[str]:
    return list(dict.fromkeys([*options.selectors, *options.domain_selectors.get(domain, [])]))


def ignored(code: str, patterns: frozenset[str]) -> bool:
    """`--ignore` takes exact codes or shell patterns such as `bimi.*`."""
    return code in patterns or any(fnmatch.fnmatchcase(code, p) for p in patterns)


async def _nothing() -> list[Finding]:
    return []


async def _prefetch(client: DnsClient, name: str) -> list[Finding]:
    await client.query(name, "TXT")
    return []


def _enforcing(dmarc: DmarcResult) -> bool | None:
    return dmarc.enforcing if dmarc.known else None


async def run_audit(domains: list[str], options: AuditOptions,
                    progress: Callable[[DomainReport], None] | None = None
                    ) -> list[DomainReport]:
    """Audit `domains` (normalised, duplicates dropped) concurrently; reports in input order."""
    names = list(dict.fromkeys(normalize_domain(d) for d in domains))
    client = DnsClient(options.nameservers, timeout=options.timeout,
                       concurrency=options.concurrency)
    slots = asyncio.Semaphore(max(1, options.concurrency))

    async def one(domain: str) -> DomainReport:
        async with slots:
            report = await audit_domain(client, domain, options)
        if progress is not None:
            progress(report)
        return report

    return list(await asyncio.gather(*(one(d) for d in names)))


# Bulk lists are CPU-bound in dnspython (about 25 ms a domain), so from this many
# domains on they are split over one process per CPU, each with its own loop and cache.
PARALLEL_FROM = 200
_CHUNK = 100  # domains per task: enough to keep `concurrency` queries in flight
_worker_options: AuditOptions | None = None  # set in the parent, inherited by fork


def audit(domains: list[str], options: AuditOptions,
          progress: Callable[[DomainReport], None] | None = None) -> list[DomainReport]:
    """Synchronous entry point: run the audit on a fresh event loop (uvloop when it is
    installed: the audit is CPU-bound in bulk runs and uvloop's loop costs less).
    Lists of PARALLEL_FROM domains or more use a process per CPU."""
    names = list(dict.fromkeys(normalize_domain(d) for d in domains))
    cpus = min(os.cpu_count() or 1, 8)
    if len(names) >= PARALLEL_FROM and cpus > 1 and "fork" in mp.get_all_start_methods():
        return _audit_in_processes(names, options, progress, cpus)
    return _audit_here(names, options, progress)


def _audit_here(names: list[str], options: AuditOptions,
                progress: Callable[[DomainReport], None] | None) -> list[DomainReport]:
    with asyncio.Runner(loop_factory=_loop_factory()) as runner:
        return runner.run(run_audit(names, options, progress))


def _audit_chunk(names: list[str]) -> list[DomainReport]:
    assert _worker_options is not None
    return _audit_here(names, _worker_options, None)


def _audit_in_processes(names: list[str], options: AuditOptions,
                        progress: Callable[[DomainReport], None] | None,
                        cpus: int) -> list[DomainReport]:
    """Chunks of the list in forked workers (the options, trust anchors included, are
    inherited rather than pickled); reports come back in input order."""
    global _worker_options
    _worker_options = options
    chunks = [names[i:i + _CHUNK] for i in range(0, len(names), _CHUNK)]
    reports: dict[int, list[DomainReport]] = {}
    try:
        with ProcessPoolExecutor(max_workers=cpus, mp_context=mp.get_context("fork")) as pool:
            pending = {pool.submit(_audit_chunk, chunk): i for i, chunk in enumerate(chunks)}
            for done in as_completed(pending):
                reports[pending[done]] = done.result()
                for report in reports[pending[done]]:
                    if progress is not None:
                        progress(report)
    finally:
        _worker_options = None
    return [r for i in range(len(chunks)) for r in reports[i]]


def _loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    try:
        import uvloop
    except ImportError:
        return None  # asyncio's default loop
    return uvloop.new_event_loop
