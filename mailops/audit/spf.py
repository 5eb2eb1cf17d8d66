"""SPF (RFC 7208): the record, its syntax (pyspf's own validator) and a static walk of
includes and redirects counting DNS-querying terms and void lookups.

The walk follows every include and redirect concurrently, like a receiver would
count them, without needing a client IP: the 10-lookup limit (RFC 7208 4.6.4) is
a property of the record tree, not of one evaluation path.
"""

from __future__ import annotations

import asyncio
import ipaddress
import re
import warnings
from dataclasses import dataclass, field

with warnings.catch_warnings():  # pyspf's source has an invalid escape in a docstring
    warnings.simplefilter("ignore", DeprecationWarning)
    import spf as pyspf

from . import codes
from .dnsclient import Answer, DnsClient
from .findings import Finding, error, warning

MAX_LOOKUPS = 10
MAX_VOID = 2
MAX_RECORD_BYTES = 512  # RFC 7208 3.4: keep the answer within a 512-byte UDP reply
RISKY_RECORD_BYTES = 450  # RFC 7208 3.4: with other records the answer may still not fit
KNOWN_MODIFIERS = ("redirect", "exp")
# RFC 7208 4.5 selects records by "v=spf1"; its ABNF (section 12, RFC 5234 2.3) makes
# the literal case-insensitive, so V=SPF1 is accepted (pyspf's own pattern is not).
_VERSION = re.compile(r"^v=spf1( |$)", re.I)
_WALK_DEPTH = 12  # beyond the limit already; stops runaway trees
QUERYING = ("include", "a", "mx", "ptr", "exists")


@dataclass
class SpfResult:
    """The SPF findings plus what other checks need (the effective `all`)."""

    findings: list[Finding] = field(default_factory=list)
    record: str | None = None
    all_qualifier: str | None = None  # "+", "-", "~", "?" of the effective all; None if absent
    lookups: int = 0
    void_lookups: int = 0


def spf_records(answer: Answer) -> list[str]:
    """The TXT strings that are SPF records (`v=spf1` alone or followed by a space)."""
    return [t for t in answer.texts() if _VERSION.match(t)]


@dataclass
class _Walk:
    dns: DnsClient
    lookups: int = 0
    voids: int = 0
    per_domain: dict[str, list[str]] = field(default_factory=dict)
    void_terms: list[str] = field(default_factory=list)


async def check_spf(client: DnsClient, domain: str, *, null_mx: bool = False) -> SpfResult:
    """All SPF findings for `domain`."""
    result = SpfResult()
    txt, rr99 = await asyncio.gather(client.query(domain, "TXT"), client.query(domain, "SPF"))
    if rr99.ok:
        result.findings.append(warning(
            codes.SPF_RR_TYPE, "SPF is published with the deprecated SPF record type "
            "(type 99); receivers only read TXT", [rr99.evidence()],
            "Remove the SPF-type record and keep the policy in a TXT record."))
    if txt.failed:
        result.findings.append(txt.failure("SPF"))
        return result
    records = spf_records(txt)
    suggestion = "v=spf1 -all" if null_mx else "v=spf1 mx -all"
    if not records:
        result.findings.append(error(
            codes.SPF_MISSING, "no SPF record: anyone can send mail claiming this domain",
            [txt.evidence()], f'{domain}. IN TXT "{suggestion}"'))
        return result
    if len(records) > 1:
        result.findings.append(error(
            codes.SPF_MULTIPLE_RECORDS,
            f"{len(records)} SPF records: receivers treat this as a permanent error",
            [f'{domain} TXT "{r}"' for r in records],
            "Merge them into a single v=spf1 record."))
        return result
    record = result.record = records[0]
    if not record.startswith("v=spf1"):
        # RFC 7208 4.5 says "exactly v=spf1"; its ABNF reads case-insensitively, and
        # receivers differ, so some of them discard this record
        result.findings.append(_syntax(
            domain, record, f"the version is written {record.split()[0]!r}: receivers that "
            "read RFC 7208 4.5 literally (\"exactly v=spf1\") discard the record; write "
            "v=spf1 in lower case", severity="warning"))
    size = len(record.encode())
    if size > RISKY_RECORD_BYTES:
        why = (f"over {MAX_RECORD_BYTES} the answer may not fit a UDP reply"
               if size > MAX_RECORD_BYTES else f"over {RISKY_RECORD_BYTES}, with the "
               "domain's other TXT records the answer may not fit a 512-byte UDP reply")
        result.findings.append(warning(
            codes.SPF_TOO_LONG, f"the SPF record is {size} bytes; {why}",
            [f'{domain} TXT "{record}"'],
            "Move groups of ip4:/ip6: terms into include:d records on subdomains."))
    walk = _Walk(client)
    result.all_qualifier = await _walk(walk, domain, record, (domain,), result.findings, 0)
    result.lookups, result.void_lookups = walk.lookups, walk.voids
    breakdown = [f"{d}: {', '.join(terms)}" for d, terms in walk.per_domain.items() if terms]
    if walk.lookups > MAX_LOOKUPS:
        result.findings.append(error(
            codes.SPF_LOOKUP_LIMIT, f"the SPF record needs {walk.lookups} DNS lookups "
            f"(include, a, mx, ptr, exists, redirect); over {MAX_LOOKUPS} is a permanent "
            "error at receivers", breakdown,
            "Replace a/mx terms with ip4:/ip6: ranges and remove includes you no longer "
            "use, until at most 10 lookups remain."))
    if walk.voids > MAX_VOID:
        result.findings.append(error(
            codes.SPF_VOID_LOOKUPS, f"{walk.voids} SPF terms point at names with no "
            f"records; over {MAX_VOID} void lookups is a permanent error at receivers",
            walk.void_terms, "Remove the terms that name domains without records."))
    _all_findings(result, domain, record)
    return result


def _all_findings(result: SpfResult, domain: str, record: str) -> None:
    """`+all`, `?all` and a missing `all` (the softfail cross-check needs DMARC: runner)."""
    qual, ev = result.all_qualifier, [f'{domain} TXT "{record}"']
    fixed = " ".join(t for t in record.split() if t.lstrip("+-~?").lower() != "all") + " -all"
    if qual == "+":
        result.findings.append(error(
            codes.SPF_PLUS_ALL, "the SPF record ends in +all: every server on the internet "
            "may send as this domain", ev, f'{domain}. IN TXT "{fixed}"'))
    elif qual == "?":
        result.findings.append(warning(
            codes.SPF_PLUS_ALL, "the SPF record ends in ?all (neutral): it authorises "
            "nothing and protects nothing", ev, f'{domain}. IN TXT "{fixed}"'))
    elif qual is None and not any(e.code in (codes.SPF_SYNTAX, codes.SPF_LOOP,
                                             codes.SPF_INCLUDE_MISSING)
                                  for e in result.findings):
        result.findings.append(warning(
            codes.SPF_NO_ALL, "the SPF record has no all term and no redirect: mail from "
            "other servers gets a neutral result", ev, f'{domain}. IN TXT "{fixed}"'))


async def _walk(w: _Walk, domain: str, record: str, path: tuple[str, ...],
                out: list[Finding], depth: int) -> str | None:
    """Count one record's lookups, follow its includes/redirect; returns its all-qualifier
    (through the redirect when the record has no all)."""
    terms = [t for t in record.split(" ")[1:] if t]
    q = pyspf.query(i="192.0.2.1", s=f"postmaster@{domain}", h=domain, strict=True)
    q.p = "unknown"  # validate_mechanism may expand %{p}: never do a PTR lookup for it
    counted = w.per_domain.setdefault(domain, [])
    subwalks: list[tuple[str, str]] = []  # (kind, target)
    side: list[asyncio.Task[list[Finding]]] = []
    all_qual: str | None = None
    redirect: str | None = None
    after_all: list[str] = []
    for term in terms:
        if all_qual is not None:
            after_all.append(term)
        modifier = pyspf.RE_MODIFIER.split(term)[1:]
        if len(modifier) == 2:
            name, value = modifier[0].lower(), modifier[1]
            if name == "redirect":
                if redirect is not None:
                    out.append(_syntax(domain, record, "redirect= appears twice"))
                    return None
                redirect = value
            elif name == "exp":
                side.append(asyncio.create_task(_exp_check(w, domain, record, value)))
            else:
                out.append(_syntax(domain, record, f"unknown modifier {term}: receivers "
                                   "ignore it", severity="warning"))
            continue
        try:
            _mech, kind, arg, _cidr, _result = q.validate_mechanism(term)
        except pyspf.PermError as exc:
            if "recursion" in str(exc.msg):  # include:<itself>
                out.append(error(codes.SPF_LOOP, f"{domain} includes itself",
                                 [f'{domain} TXT "{record}"'], f"Remove {term}."))
            else:
                out.append(_syntax(domain, record, f"{exc.msg}: {term}"))
            return None
        qual = term[0] if term[0] in "+-~?" else "+"
        if kind == "all":
            if all_qual is None:
                all_qual = qual
            continue
        if kind not in QUERYING:
            continue
        w.lookups += 1
        counted.append(term)
        raw_target = term.split(":", 1)[1].split("/")[0] if ":" in term else domain
        if kind == "ptr":
            out.append(warning(
                codes.SPF_PTR_MECHANISM, f"{domain}: the ptr mechanism is slow, unreliable "
                "and deprecated (RFC 7208 5.5); many receivers ignore it",
                [f'{domain} TXT "{record}"'], "Replace ptr with the ip4:/ip6: ranges of "
                "your senders."))
        elif "%" in raw_target or kind == "exists":
            continue  # macro targets depend on the sender: counted, not followed
        elif kind == "include":
            subwalks.append(("include", str(arg).rstrip(".").lower()))
        else:
            side.append(asyncio.create_task(_void_check(w, domain, kind, arg, term)))
    if sum(1 for t in terms if t.lstrip("+-~?").lower() == "all") > 1:
        out.append(_syntax(domain, record, "two all terms: only the first is ever "
                           "reached", severity="warning"))
    elif after_all:
        out.append(_syntax(domain, record, f"terms after all are never evaluated: "
                           f"{' '.join(after_all)}", severity="warning"))
    if redirect is not None and all_qual is not None:
        out.append(_syntax(domain, record, f"redirect={redirect} together with all: the "
                           "redirect is ignored (RFC 7208 6.1)", severity="warning"))
    if redirect is not None and all_qual is None:
        w.lookups += 1
        counted.append(f"redirect={redirect}")
        if "%" not in redirect:
            subwalks.append(("redirect", redirect.rstrip(".").lower()))
    results = await asyncio.gather(*(
        _follow(w, domain, kind, target, path, depth) for kind, target in subwalks))
    for found in await asyncio.gather(*side):
        out.extend(found)
    effective = all_qual
    for (kind, _target), (qualifier, sub) in zip(subwalks, results, strict=True):
        out.extend(sub)
        if kind == "redirect":
            effective = qualifier
    return effective


async def _follow(w: _Walk, parent: str, kind: str, target: str, path: tuple[str, ...],
                  depth: int) -> tuple[str | None, list[Finding]]:
    """Fetch and walk an include or redirect target; findings go to a private list so the
    order stays deterministic whatever answers first."""
    out: list[Finding] = []
    if target in path:
        out.append(error(codes.SPF_LOOP, f"SPF {kind} loop: {' -> '.join((*path, target))}",
                         [f"{parent}: {kind}:{target}"],
                         f"Remove the {kind} of {target} from {parent}'s SPF record."))
        return None, out
    if depth >= _WALK_DEPTH:
        return None, out
    answer = await w.dns.query(target, "TXT")
    if answer.failed:
        out.append(answer.failure(f"SPF {kind} of {target} (from {parent})"))
        return None, out
    records = spf_records(answer)
    if not records:
        if not answer.ok:
            w.voids += 1
            w.void_terms.append(f"{parent}: {kind}:{target} ({answer.error})")
        out.append(error(codes.SPF_INCLUDE_MISSING, f"{parent}: {kind} of {target}, which "
                         "has no SPF record: receivers return a permanent error",
                         [answer.evidence()], f"Remove {kind}:{target} or publish its "
                         "SPF record."))
        return None, out
    if len(records) > 1:
        out.append(error(codes.SPF_MULTIPLE_RECORDS, f"{target} (an SPF {kind} of {parent}) "
                         f"has {len(records)} SPF records", [answer.evidence()],
                         f"{target} must publish a single v=spf1 record."))
        return None, out
    qual = await _walk(w, target, records[0], (*path, target), out, depth + 1)
    return qual, out


async def _void_check(w: _Walk, domain: str, kind: str, target: str,
                      term: str) -> list[Finding]:
    """a/mx terms: a name with no records is a void lookup (and a dead term)."""
    answers: list[Answer]
    if kind == "a":
        answers = list(await asyncio.gather(w.dns.query(target, "A"),
                                            w.dns.query(target, "AAAA")))
    else:
        answers = [await w.dns.query(target, "MX")]
    for answer in answers:
        if answer.failed:
            return [answer.failure(f"SPF term {term}")]
    if kind == "mx" and answers[0].ok and len(answers[0].rdata) > MAX_LOOKUPS:
        return [error(codes.SPF_LOOKUP_LIMIT, f"{domain}: the SPF term {term} names "
                      f"{target}, which has {len(answers[0].rdata)} MX records; over "
                      f"{MAX_LOOKUPS} is a permanent error at receivers (RFC 7208 4.6.4)",
                      [answers[0].evidence()], f"Use ip4:/ip6: ranges instead of {term}.")]
    if kind == "mx" and answers[0].ok:
        return await _mx_hosts_check(w, domain, answers[0], term)
    if any(a.ok for a in answers):
        return []
    w.voids += 1
    w.void_terms.append(f"{domain}: {term} ({answers[0].error})")
    what = "address" if kind == "a" else "MX record"
    return [warning(codes.SPF_VOID_TERM, f"{domain}: the SPF term {term} names {target}, "
                    f"which has no {what}: it authorises nothing and counts as a void "
                    "lookup", [a.evidence() for a in answers],
                    f"Remove {term} from the SPF record of {domain}.")]


async def _mx_hosts_check(w: _Walk, domain: str, mx: Answer, term: str) -> list[Finding]:
    """The mx mechanism looks up each MX host's addresses: one with none authorises
    nothing, and its lookup is void (checkdmarc counts it too)."""
    # a null MX has no host
    names = [h for h in (r.exchange.to_text(omit_final_dot=True).lower() for r in mx.rdata)
             if h not in ("", ".")]
    hosts = [h for h in names if not _is_ip(h)]
    answers = await asyncio.gather(*(w.dns.query(h, t) for h in hosts for t in ("A", "AAAA")))
    out: list[Finding] = []
    for literal in (h for h in names if _is_ip(h)):
        # receivers look the "host" up as a name (RFC 7208 5.4), which finds nothing
        w.voids += 1
        w.void_terms.append(f"{domain}: {term} -> MX host {literal} (an IP literal)")
        out.append(warning(codes.SPF_VOID_TERM, f"{domain}: the SPF term {term} names the "
                           f"MX host {literal}, an IP address written as a host name: "
                           "receivers look it up as a name, so it authorises nothing",
                           [mx.evidence()], f"Use ip4:/ip6: for {literal} and fix the MX "
                           "records to name a host."))
    for i, host in enumerate(hosts):
        a, aaaa = answers[2 * i], answers[2 * i + 1]
        if a.failed or aaaa.failed:
            out.append((a if a.failed else aaaa).failure(f"SPF term {term}"))
        elif not (a.ok or aaaa.ok):
            w.voids += 1
            w.void_terms.append(f"{domain}: {term} -> MX host {host} ({a.error})")
            out.append(warning(codes.SPF_VOID_TERM, f"{domain}: the SPF term {term} names "
                               f"the MX host {host}, which has no address: it authorises "
                               "nothing and counts as a void lookup",
                               [mx.evidence(), a.evidence(), aaaa.evidence()],
                               f"Give {host} an address or fix the MX records."))
    return out


async def _exp_check(w: _Walk, domain: str, record: str, target: str) -> list[Finding]:
    """exp= names where receivers read the explanation text (RFC 7208 6.2)."""
    if "%" in target:
        return []  # macro: depends on the sender
    answer = await w.dns.query(target.rstrip(".").lower(), "TXT")
    if answer.failed:
        return [answer.failure(f"SPF exp={target}")]
    if len(answer.texts()) == 1:
        return []
    what = "no TXT record" if not answer.ok else f"{len(answer.texts())} TXT records"
    return [_syntax(domain, record, f"exp={target} has {what}: receivers give no "
                    "explanation", severity="warning")]


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def _syntax(domain: str, record: str, why: str, severity: str = "error") -> Finding:
    if severity == "warning":
        return warning(codes.SPF_SYNTAX, f"{domain}: SPF record problem ({why})",
                       [f'{domain} TXT "{record}"'], "Correct the record.")
    return error(codes.SPF_SYNTAX, f"{domain}: SPF syntax error ({why}); receivers return a "
                 "permanent error", [f'{domain} TXT "{record}"'],
                 "Correct the record; each term is separated by a single space.")


def softfail_finding(domain: str, record: str, dmarc_policy: str | None) -> Finding:
    """`~all` while DMARC does not enforce: spoofed mail is only marked, never refused."""
    why = "no DMARC record" if dmarc_policy is None else f"DMARC p={dmarc_policy}"
    return warning(codes.SPF_SOFTFAIL_ALL, f"the SPF record ends in ~all with {why}: "
                   "mail failing SPF is still accepted", [f'{domain} TXT "{record}"'],
                   "Publish DMARC with p=quarantine or p=reject, or end SPF with -all.")

