"""SMTP TLS Reporting (RFC 8460): the `_smtp._tls` TXT record."""

from __future__ import annotations

import re

from . import codes
from .dnsclient import DnsClient
from .findings import Finding, error, info, warning
from .tags import TagSyntaxError, parse_tags

_RPT = re.compile(r"^\s*v\s*=\s*TLSRPTv1\s*(;|$)", re.I)


async def check_tlsrpt(client: DnsClient, domain: str) -> list[Finding]:
    """Presence and syntax of `_smtp._tls.DOMAIN` TXT."""
    name = f"_smtp._tls.{domain}"
    answer = await client.query(name, "TXT")
    if answer.failed:
        return [answer.failure("TLS-RPT")]
    fix = f'{name}. IN TXT "v=TLSRPTv1; rua=mailto:tls-reports@{domain}"'
    records = [t for t in answer.texts() if _RPT.match(t)]
    if not records:
        return [info(codes.TLSRPT_MISSING, "no TLS-RPT record: you get no reports of "
                     "senders failing to deliver over TLS", [answer.evidence()], fix)]
    ev = [answer.evidence()]
    problem = _problem(records)
    if problem:
        return [error(codes.TLSRPT_SYNTAX, f"{name}: {problem}", ev, fix)]
    out: list[Finding] = []
    if not records[0].startswith("v=TLSRPTv1;"):
        # RFC 8460 3's grammar allows the whitespace, but its discard rule (3.1) speaks
        # of records that do not begin with "v=TLSRPTv1;", and some senders apply it
        out.append(warning(codes.TLSRPT_SYNTAX, f"{name}: the record does not begin with "
                           "exactly \"v=TLSRPTv1;\"; senders that apply RFC 8460 3.1 "
                           "literally ignore it", ev, fix))
    others = [t for t in answer.texts() if not _RPT.match(t)]
    if others:  # RFC 8460 3: records not starting with v=TLSRPTv1 are discarded
        out.append(info(codes.TLSRPT_SYNTAX, f"{name}: {len(others)} other TXT record(s) "
                        "next to the TLS-RPT record; senders ignore them", ev,
                        "Remove the TXT records that are not TLS-RPT records."))
    unknown = [t for t in parse_tags(records[0]) if t not in ("v", "rua")]
    if unknown:  # RFC 8460 3: extensions are allowed, and senders ignore unknown ones
        out.append(warning(codes.TLSRPT_SYNTAX, f"{name}: unknown tag(s) "
                           f"{', '.join(unknown)}: senders ignore them", ev, fix))
    return out


def _problem(records: list[str]) -> str | None:
    """Whitespace around `;` and `=` is accepted: RFC 8460 3's field-delim is
    *WSP ";" *WSP."""
    if len(records) > 1:
        return f"{len(records)} v=TLSRPTv1 records; senders ignore them all"
    try:
        tags = parse_tags(records[0])
    except TagSyntaxError as exc:
        return str(exc)
    if next(iter(tags)) != "v" or tags["v"] != "TLSRPTv1":
        return "the record must start with v=TLSRPTv1"
    uris = [u.strip() for u in tags.get("rua", "").split(",") if u.strip()]
    if not uris:
        return "the required rua= tag is missing or empty"
    for uri in uris:
        low = uri.lower()
        if not ((low.startswith("mailto:") and "@" in uri) or low.startswith("https://")):
            return f"rua destination {uri!r} is neither a mailto: nor an https: URI"
    return None
