"""MTA-STS (RFC 8461): the `_mta-sts` TXT record announcing a policy."""

from __future__ import annotations

import re

from . import codes
from .dnsclient import DnsClient
from .findings import Finding, error, info
from .stspolicy import check_policy
from .tags import TagSyntaxError, parse_tags

_STS = re.compile(r"^\s*v\s*=\s*STSv1\s*(;|$)", re.I)
_ID = re.compile(r"^[A-Za-z0-9]{1,32}$")


async def check_mta_sts(client: DnsClient, domain: str, mx_hosts: list[str] | None = None,
                        *, timeout: float = 5.0) -> list[Finding]:
    """Presence and syntax of `_mta-sts.DOMAIN` TXT; with `mx_hosts`, the policy it
    announces is fetched and checked against them (stspolicy)."""
    name = f"_mta-sts.{domain}"
    answer = await client.query(name, "TXT")
    if answer.failed:
        return [answer.failure("MTA-STS")]
    records = [t for t in answer.texts() if _STS.match(t)]
    if not records:
        return [info(codes.MTA_STS_MISSING, "no MTA-STS policy: senders may deliver without "
                     "TLS if an attacker strips STARTTLS", [answer.evidence()],
                     f'{name}. IN TXT "v=STSv1; id=20260101"  plus the policy at '
                     f"https://mta-sts.{domain}/.well-known/mta-sts.txt "
                     "(mailops mta-sts policy writes it)")]
    ev = [answer.evidence()]
    if len(records) > 1:
        return [_syntax(name, f"{len(records)} v=STSv1 records; senders ignore them all", ev)]
    try:
        tags = parse_tags(records[0])
    except TagSyntaxError as exc:
        return [_syntax(name, str(exc), ev)]
    if next(iter(tags)) != "v" or tags["v"] != "STSv1":
        return [_syntax(name, "the record must start with v=STSv1", ev)]
    if not _ID.match(tags.get("id", "")):
        return [_syntax(name, "id= must be 1 to 32 letters or digits", ev)]
    if mx_hosts is None:
        return []
    return await check_policy(client, domain, mx_hosts, timeout)


def _syntax(name: str, why: str, ev: list[str]) -> Finding:
    return error(codes.MTA_STS_SYNTAX, f"{name}: {why}", ev,
                 f'{name}. IN TXT "v=STSv1; id=20260101"')
