"""Reverse DNS of MX addresses: a PTR record, and forward-confirmed reverse DNS (FCrDNS:
the PTR name resolves back to the address). Many receivers reject or score mail from
addresses without it, so it matters for the MX hosts that also send."""

from __future__ import annotations

import asyncio
import ipaddress
from dataclasses import replace

import dns.reversename

from . import codes
from .dnsclient import DnsClient
from .findings import Finding, Severity, warning


async def check_ptr(client: DnsClient, hosts: dict[str, list[str]]) -> list[Finding]:
    """Findings for every address of every MX host (each address checked once)."""
    owners: dict[str, str] = {}
    for host, addresses in hosts.items():
        for address in addresses:
            owners.setdefault(address, host)
    groups = await asyncio.gather(*(_check_address(client, a, h) for a, h in owners.items()))
    return [f for group in groups for f in group]


async def _check_address(client: DnsClient, address: str, host: str) -> list[Finding]:
    name = dns.reversename.from_address(address).to_text(omit_final_dot=True)
    answer = await client.query(name, "PTR")
    if answer.failed:
        # The reverse zone belongs to whoever holds the address block, not to the domain
        # owner: an unknown answer is worth knowing but is not the domain's fault.
        failure = answer.failure(f"reverse DNS of MX host {host} ({address})")
        return [replace(failure, severity=Severity.info,
                        fix="Reverse zones are run by whoever holds the address block "
                        "(your hosting provider): check with them if this persists.")]
    if not answer.ok:
        return [warning(codes.PTR_MISSING, f"MX host {host} ({address}) has no PTR record: "
                        "receivers distrust mail from addresses without reverse DNS",
                        [answer.evidence()],
                        f"Ask the address owner (your hosting provider) to set the PTR of "
                        f"{address} to {host}.")]
    family = "AAAA" if ipaddress.ip_address(address).version == 6 else "A"
    names = [r.target.to_text(omit_final_dot=True) for r in answer.rdata]
    forwards = await asyncio.gather(*(client.query(n, family) for n in names))
    seen = [answer.evidence()]
    for fwd in forwards:
        if fwd.ok and any(ipaddress.ip_address(r.to_text()) == ipaddress.ip_address(address)
                          for r in fwd.rdata):
            return []
        seen.append(fwd.evidence())
    return [warning(codes.PTR_FCRDNS_MISMATCH, f"MX host {host} ({address}): the PTR name "
                    f"{', '.join(names)} does not resolve back to {address}", seen,
                    f"Give {names[0]} an {family} record {address}, or set the PTR to a name "
                    f"that has one (such as {host}).")]
