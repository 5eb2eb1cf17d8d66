"""DMARC (RFC 7489): the record at `_dmarc`, its syntax and policy, the organisational-domain
fallback (Public Suffix List from the `publicsuffixlist` package: no network at run
time) and the authorisation of external report destinations (RFC 7489 7.1)."""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass, field
from functools import cache

from publicsuffixlist import PublicSuffixList

from . import codes
from .dnsclient import DnsClient
from .findings import Finding, error, info, warning
from .tags import TagSyntaxError, parse_tags

POLICIES = ("none", "quarantine", "reject")
_DMARC = re.compile(r"^\s*v\s*=\s*dmarc1\s*(;|$)", re.I)
_SIZE = re.compile(r"[0-9]+[kmgt]?", re.I)
MAX_RUA = 2  # some receivers send aggregate reports to the first two addresses only
_KNOWN = {"v", "p", "sp", "np", "adkim", "aspf", "pct", "fo", "rf", "ri", "rua", "ruf",
          "t", "psd"}  # np, t, psd: DMARCbis tags receivers already read


@cache
def _psl() -> PublicSuffixList:
    return PublicSuffixList()


def org_domain(domain: str) -> str:
    """The organisational domain (RFC 7489 3.2) from the bundled Public Suffix List."""
    return _psl().privatesuffix(domain.lower()) or domain.lower()


@dataclass
class DmarcResult:
    """DMARC findings and the policy that applies to mail from the domain."""

    findings: list[Finding] = field(default_factory=list)
    record: str | None = None
    policy: str | None = None  # effective p (or sp when inherited); None: no usable record
    known: bool = True  # False when a lookup failed: the policy is unknown

    @property
    def enforcing(self) -> bool:
        """quarantine or reject."""
        return self.policy in ("quarantine", "reject")


async def check_dmarc(client: DnsClient, domain: str) -> DmarcResult:
    """All DMARC findings for `domain`."""
    result = DmarcResult()
    policy_domain = domain
    answer = await client.query(f"_dmarc.{domain}", "TXT")
    if answer.failed:
        result.findings.append(answer.failure("DMARC"))
        result.known = False
        return result
    records = [t for t in answer.texts() if _DMARC.match(t)]
    evidence = [answer.evidence()]
    org = org_domain(domain)
    if not records and org != domain:
        parent = await client.query(f"_dmarc.{org}", "TXT")
        if parent.failed:
            result.findings.append(parent.failure("DMARC (organisational domain)"))
            result.known = False
            return result
        records = [t for t in parent.texts() if _DMARC.match(t)]
        evidence.append(parent.evidence())
        if records:
            policy_domain = org
            result.findings.append(info(
                codes.DMARC_INHERITED, f"no DMARC record at _dmarc.{domain}: the "
                f"organisational domain {org}'s record applies", evidence))
    if not records:
        result.findings.append(error(
            codes.DMARC_MISSING, "no DMARC record: receivers have no policy for mail "
            "that fails SPF and DKIM, and you get no reports", evidence,
            f'_dmarc.{domain}. IN TXT "v=DMARC1; p=reject; rua=mailto:dmarc@{domain}"'))
        return result
    if len(records) > 1:
        result.findings.append(error(
            codes.DMARC_MULTIPLE_RECORDS, f"{len(records)} DMARC records at "
            f"_dmarc.{policy_domain}: receivers ignore them all", evidence,
            "Keep a single v=DMARC1 record."))
        return result
    result.record = records[0]
    ev = [f'_dmarc.{policy_domain} TXT "{result.record}"']
    try:
        tags = parse_tags(result.record)
    except TagSyntaxError as exc:
        result.findings.append(_syntax(policy_domain, str(exc), ev))
        return result
    problems = _validate(tags)
    result.findings += [_syntax(policy_domain, p, ev, sev) for sev, p in problems]
    if any(sev == "error" for sev, _ in problems):
        return result
    p = tags["p"].lower()
    sp = tags.get("sp", p).lower()
    result.policy = sp if policy_domain != domain else p
    result.findings += _policy_findings(policy_domain, tags, p, sp, ev)
    result.findings += await _report_destinations(client, policy_domain, tags, ev)
    return result


def _validate(tags: dict[str, str]) -> list[tuple[str, str]]:
    """(severity, problem) pairs; errors make receivers ignore the record."""
    out: list[tuple[str, str]] = []
    if next(iter(tags)) != "v" or tags["v"] != "DMARC1":
        out.append(("error", "the record must start with v=DMARC1"))
    if "p" not in tags:
        out.append(("error", "the required p= tag is missing"))
    elif list(tags)[1] != "p":  # RFC 7489 6.4 ABNF: dmarc-version dmarc-sep dmarc-request
        out.append(("error", "p= must be the second tag, right after v=DMARC1"))
    for tag, allowed in (("p", POLICIES), ("sp", POLICIES), ("np", POLICIES),
                         ("adkim", ("r", "s")), ("aspf", ("r", "s"))):
        if tag in tags and tags[tag].lower() not in allowed:
            out.append(("error", f"{tag}={tags[tag]} is not one of {', '.join(allowed)}"))
    if "pct" in tags and not (tags["pct"].isdigit() and 0 <= int(tags["pct"]) <= 100):
        out.append(("error", f"pct={tags['pct']} is not a number from 0 to 100"))
    if "ri" in tags and not tags["ri"].isdigit():
        out.append(("warning", f"ri={tags['ri']} is not a number of seconds"))
    if "fo" in tags and not all(o.strip() in ("0", "1", "d", "s")
                                for o in tags["fo"].split(":")):
        out.append(("warning", f"fo={tags['fo']} is not a list of 0, 1, d, s"))
    for tag in ("rua", "ruf"):
        for uri in _uris(tags.get(tag, "")):
            address, bang, size = uri.partition("!")
            if not address.lower().startswith("mailto:") or "@" not in address:
                out.append(("error", f"{tag} destination {uri!r} is not a mailto: address"))
            elif bang and not _SIZE.fullmatch(size):  # RFC 7489 6.4: "!" 1*DIGIT [kmgt]
                out.append(("error", f"{tag} destination {uri!r}: the size limit after ! "
                            "must be digits with an optional k, m, g or t"))
    unknown = [t for t in tags if t not in _KNOWN]
    if unknown:
        out.append(("warning", f"unknown tag(s) {', '.join(unknown)}: receivers ignore them"))
    return out


def _policy_findings(domain: str, tags: dict[str, str], p: str, sp: str,
                     ev: list[str]) -> list[Finding]:
    out: list[Finding] = []
    if p == "none":
        out.append(warning(
            codes.DMARC_POLICY_NONE, "DMARC p=none: mail failing authentication is "
            "delivered as if DMARC did not exist (monitoring only)", ev,
            "Once reports show your own mail passes, move to p=quarantine, then p=reject."))
    if "pct" in tags and int(tags["pct"]) < 100:
        out.append(warning(
            codes.DMARC_PCT_PARTIAL, f"DMARC pct={tags['pct']}: the policy applies to only "
            "part of the failing mail", ev, "Remove pct= (the default is 100)."))
    if p != "none" and sp == "none":
        out.append(warning(
            codes.DMARC_SUBDOMAIN_POLICY_NONE, "DMARC sp=none: subdomains can be spoofed "
            "although the domain itself is protected", ev, "Remove sp= or set sp=reject."))
    strict = [t for t in ("adkim", "aspf") if tags.get(t, "r").lower() == "s"]
    if strict:
        out.append(info(
            codes.DMARC_STRICT_ALIGNMENT, f"strict alignment ({', '.join(strict)}=s): "
            "mail signed or sent from subdomains does not align", ev))
    rua = _uris(tags.get("rua", ""))
    if len(rua) > MAX_RUA:
        out.append(warning(
            codes.DMARC_MANY_RUA, f"{len(rua)} rua= addresses: some receivers send "
            f"aggregate reports only to the first {MAX_RUA}", ev,
            f"Keep at most {MAX_RUA} rua= addresses."))
    sized = [u for u in rua if "!" in u]
    if sized:
        # valid in RFC 7489 6.4, but DMARCbis drops it: newer reporters ignore the limit,
        # older ones may cut reports short
        out.append(warning(
            codes.DMARC_RUA_SIZE_LIMIT, f"rua= size limit ({', '.join(sized)}): the DMARC "
            "revision drops !size, so reporters differ (some ignore it, some send "
            "incomplete reports)", ev, "Remove the !size suffix from the rua= addresses."))
    if not rua:
        out.append(info(
            codes.DMARC_NO_RUA, "no rua= destination: you receive no aggregate reports "
            "showing who sends as this domain", ev,
            f"Add rua=mailto:dmarc@{domain} to the record."))
    return out


async def _report_destinations(client: DnsClient, domain: str, tags: dict[str, str],
                               ev: list[str]) -> list[Finding]:
    """Report addresses must be deliverable, and external domains must publish
    `<domain>._report._dmarc.<dest>` (RFC 7489 7.1)."""
    dests: dict[str, list[str]] = {}
    for tag in ("rua", "ruf"):
        for uri in _uris(tags.get(tag, "")):
            host = uri.split("@", 1)[1].split("!", 1)[0].rstrip(".").lower()
            dests.setdefault(host, []).append(f"{tag}={uri}")
    external = {h: f"{domain}._report._dmarc.{h}" for h in dests
                if org_domain(h) != org_domain(domain)}
    auth, mail = await asyncio.gather(
        asyncio.gather(*(client.query(n, "TXT") for n in external.values())),
        asyncio.gather(*(_accepts_mail(client, h) for h in dests)))
    out: list[Finding] = [f for found in mail for f in found]
    for (host, name), answer in zip(external.items(), auth, strict=True):
        if answer.failed:
            out.append(answer.failure(f"DMARC report authorisation at {host}"))
        elif not any(_DMARC.match(t) for t in answer.texts()):
            out.append(warning(
                codes.DMARC_EXTERNAL_RUA_UNAUTHORIZED, f"reports go to {host}, which has "
                f"not authorised them ({name} has no v=DMARC1 record): receivers will "
                "not send them", [*ev, answer.evidence(), *dests[host]],
                f'{name}. IN TXT "v=DMARC1"  (published by the owner of {host})'))
    return out


async def _accepts_mail(client: DnsClient, host: str) -> list[Finding]:
    """A report address's domain needs an MX. An address alone (the implicit MX of RFC
    5321 5.1) is flagged too, as checkdmarc does: some report senders require an MX.
    A failed lookup is `dns.lookup_failed`, never a verdict."""
    mx = await client.query(host, "MX")
    if mx.failed:
        return [mx.failure(f"DMARC report address domain {host}")]
    null = mx.ok and all(r.exchange.to_text() == "." for r in mx.rdata)
    if mx.ok and not null:
        return []
    evidence = [mx.evidence()]
    why = "a null MX"
    if not null:
        a, aaaa = await asyncio.gather(client.query(host, "A"), client.query(host, "AAAA"))
        failed = [x.failure(f"DMARC report address domain {host}") for x in (a, aaaa)
                  if x.failed]
        if failed:
            return failed  # unknown, not absent: no verdict on deliverability
        evidence += [a.evidence(), aaaa.evidence()]
        if a.ok or aaaa.ok:
            return [warning(codes.DMARC_RUA_NO_MX, f"DMARC reports go to addresses at "
                            f"{host}, which has no MX record, only an address (implicit "
                            "MX): some report senders do not deliver there", evidence,
                            f"Publish an MX record for {host}: {host}. IN MX 10 <mail host>.")]
        why = "no MX and no address"
    return [warning(codes.DMARC_RUA_NO_MX, f"DMARC reports go to addresses at {host}, "
                    f"which accepts no mail ({why}): the reports are lost", evidence,
                    "Use a report address in a domain that receives mail.")]


def _uris(value: str) -> list[str]:
    return [u.strip() for u in value.split(",") if u.strip()]


def _syntax(domain: str, why: str, ev: list[str], severity: str = "error") -> Finding:
    make = error if severity == "error" else warning
    return make(codes.DMARC_SYNTAX, f"_dmarc.{domain}: {why}", ev,
                "Fix the record, e.g. v=DMARC1; p=reject; rua=mailto:dmarc@" + domain)
