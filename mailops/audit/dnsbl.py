"""DNS blocklists (RFC 5782): each MX address looked up in the zones given with --dnsbl.

An answer in 127.0.0.0/8 is a listing, except 127.255.255.0/24, which lists use to say
"query refused" (a public resolver, or a quota): that is reported as info, never as a
listing. Answers outside 127/8 are not valid list answers (a wildcard or a hijacking
resolver) and are reported as info too.
"""

from __future__ import annotations

import asyncio
import ipaddress
from dataclasses import replace

import dns.reversename

from . import codes
from .dnsclient import DnsClient
from .findings import Finding, Severity, error, info


def query_name(address: str, zone: str) -> str:
    """`192.0.2.1` in `bl.example` -> `1.2.0.192.bl.example` (nibbles for IPv6)."""
    reverse = dns.reversename.from_address(address).to_text(omit_final_dot=True)
    suffix = ".in-addr.arpa" if "." in address else ".ip6.arpa"
    return f"{reverse.removesuffix(suffix)}.{zone.strip('.')}"


async def check_dnsbl(client: DnsClient, hosts: dict[str, list[str]],
                      zones: list[str]) -> list[Finding]:
    """Findings for every (MX address, list) pair."""
    pairs = [(address, host, zone) for host, addresses in hosts.items()
             for address in dict.fromkeys(addresses) for zone in zones]
    groups = await asyncio.gather(*(_one(client, a, h, z) for a, h, z in pairs))
    return [f for group in groups for f in group]


async def _one(client: DnsClient, address: str, host: str, zone: str) -> list[Finding]:
    name = query_name(address, zone)
    answer = await client.query(name, "A")
    if answer.failed:  # the list's servers, not the domain's: worth knowing, not a fault
        return [replace(answer.failure(f"blocklist {zone}"), severity=Severity.info,
                        fix=f"Check that {zone} is still operated and reachable from here.")]
    if not answer.ok:
        return []
    codes_seen = [ipaddress.ip_address(r.to_text()) for r in answer.rdata]
    refused = [c for c in codes_seen if c in ipaddress.ip_network("127.255.255.0/24")]
    listed = [c for c in codes_seen if c.version == 4 and c.is_loopback and c not in refused]
    if listed:
        reason = await client.query(name, "TXT")
        evidence = [answer.evidence()] + ([reason.evidence()] if reason.ok else [])
        return [error(codes.DNSBL_LISTED, f"MX host {host} ({address}) is listed on {zone} "
                      f"(return code {', '.join(map(str, listed))}): receivers using the list "
                      "refuse mail from it", evidence,
                      f"Find why on the list operator's site ({zone}), fix the cause, then "
                      "request delisting.")]
    why = ("refused the query (127.255.255.x: typically a public resolver or over quota)"
           if refused else "gave an answer that is not a list code")
    return [info(codes.DNSBL_UNUSABLE, f"{zone} {why}; {address} could not be checked",
                 [answer.evidence()], "Query the list through your own resolver, or "
                 "register with the list operator.")]
