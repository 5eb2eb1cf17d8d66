"""MX: present, null MX (RFC 7505), implicit MX, and each target host's addresses."""

from __future__ import annotations

import asyncio
import ipaddress
from dataclasses import dataclass, field

from . import codes
from .dnsclient import Answer, DnsClient
from .findings import Finding, error, info, warning


@dataclass
class MxResult:
    """MX findings and the facts later checks use."""

    findings: list[Finding] = field(default_factory=list)
    null_mx: bool = False
    known: bool = True  # False when the MX lookup failed
    hosts: dict[str, list[str]] = field(default_factory=dict)  # host -> addresses


def _is_ip(name: str) -> bool:
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


async def check_mx(client: DnsClient, domain: str) -> MxResult:
    """All MX findings for `domain`."""
    result = MxResult()
    answer = await client.query(domain, "MX")
    if answer.failed:
        result.findings.append(answer.failure("MX"))
        result.known = False
        return result
    if not answer.ok:
        if answer.error == "NXDOMAIN":
            # The name itself does not exist: every later "missing" finding follows from
            # this one, so it comes first and says so.
            result.findings.append(error(
                codes.DNS_NXDOMAIN, f"{domain} does not exist in DNS (NXDOMAIN): mail to "
                "and from it fails everywhere", [answer.evidence()],
                "Check the spelling, the registration and the delegation of the domain."))
        await _no_mx(client, domain, answer, result)
        return result
    records = sorted(answer.rdata, key=lambda r: r.preference)
    exchanges = [r.exchange.to_text(omit_final_dot=True).lower() for r in records]
    if "" in exchanges or "." in exchanges:
        result.null_mx = True
        if len(records) == 1 and records[0].preference == 0:
            result.findings.append(info(
                codes.MX_NULL_MX, "null MX (RFC 7505): this domain accepts no mail",
                [answer.evidence()]))
        else:
            result.findings.append(error(
                codes.MX_NULL_MX_MIXED, "a null MX must be the only MX record (with "
                "preference 0); mixed with other hosts, senders' behaviour is undefined",
                [answer.evidence()], f"{domain}. IN MX 0 .  (and no other MX records) — "
                "or remove the null MX if the domain receives mail"))
        return result
    dupes = sorted({h for h in exchanges if exchanges.count(h) > 1})
    if dupes:
        result.findings.append(warning(
            codes.MX_DUPLICATE, f"MX host(s) listed more than once: {', '.join(dupes)}",
            [answer.evidence()], "Keep one MX record per host."))
    hosts = list(dict.fromkeys(exchanges))
    checks = await asyncio.gather(*(_check_host(client, domain, h) for h in hosts))
    for host, (addresses, findings) in zip(hosts, checks, strict=True):
        result.hosts[host] = addresses
        result.findings += findings
    addresses = [a for addrs in result.hosts.values() for a in addrs]
    if addresses and not any(":" in a for a in addresses):
        result.findings.append(info(
            codes.MX_NO_IPV6, "no MX host has an IPv6 address: IPv6-only senders cannot "
            "deliver", [f"{h}: {', '.join(a) or 'no address'}" for h, a in result.hosts.items()]))
    return result


async def _no_mx(client: DnsClient, domain: str, answer: Answer, result: MxResult) -> None:
    a, aaaa = await asyncio.gather(client.query(domain, "A"), client.query(domain, "AAAA"))
    failed = [x for x in (a, aaaa) if x.failed]
    if failed:
        result.findings.append(failed[0].failure("implicit MX"))
        return
    evidence = [answer.evidence(), a.evidence(), aaaa.evidence()]
    if a.ok or aaaa.ok:
        result.findings.append(warning(
            codes.MX_MISSING_IMPLICIT, "no MX record: mail is delivered to the domain's "
            "own address (implicit MX, RFC 5321 5.1)", evidence,
            f"{domain}. IN MX 10 mail.{domain}.  — or, if the domain takes no mail, "
            f"{domain}. IN MX 0 ."))
    else:
        result.findings.append(warning(
            codes.MX_MISSING, "no MX record and no address: mail to this domain cannot be "
            "delivered and senders retry for days", evidence,
            f"{domain}. IN MX 10 mail.{domain}.  — or, if the domain takes no mail, "
            f"{domain}. IN MX 0 ."))


async def _check_host(client: DnsClient, domain: str,
                      host: str) -> tuple[list[str], list[Finding]]:
    """A target's addresses and its problems (IP literal, CNAME, no address)."""
    if _is_ip(host):
        return [], [error(codes.MX_IP_LITERAL, f"MX target {host} is an IP address, not a "
                          "host name: senders look it up as a name and fail",
                          [f"{domain} MX {host}"],
                          f"mail.{domain}. IN A {host}  and  {domain}. IN MX 10 mail.{domain}.")]
    a, aaaa = await asyncio.gather(client.query(host, "A"), client.query(host, "AAAA"))
    findings: list[Finding] = []
    for x in (a, aaaa):
        if x.failed:
            return [], [x.failure(f"address of MX host {host}")]
    alias = a.canonical or aaaa.canonical
    if alias:
        findings.append(warning(
            codes.MX_CNAME_TARGET, f"MX target {host} is a CNAME (to {alias}); RFC 2181 "
            "10.3 forbids it and some senders refuse it", [a.evidence()],
            f"Point the MX record at {alias} (or give {host} its own A/AAAA records)."))
    addresses = [r.to_text() for x in (a, aaaa) if x.ok for r in x.rdata]
    if not addresses:
        findings.append(error(
            codes.MX_NO_ADDRESS, f"MX target {host} has no A or AAAA record: mail cannot "
            "be delivered to it", [a.evidence(), aaaa.evidence()],
            f"{host}. IN A <the server's address>"))
    return addresses, findings
