"""BIMI (draft-brand-indicators-for-message-identification): `default._bimi` TXT."""

from __future__ import annotations

import re

from . import codes
from .dnsclient import DnsClient
from .findings import Finding, error, info, warning
from .tags import TagSyntaxError, parse_tags

_BIMI = re.compile(r"^\s*v\s*=\s*BIMI1\s*(;|$)", re.I)


async def check_bimi(client: DnsClient, domain: str,
                     dmarc_enforcing: bool | None) -> list[Finding]:
    """Presence and syntax of the default BIMI record; BIMI needs an enforcing DMARC."""
    name = f"default._bimi.{domain}"
    answer = await client.query(name, "TXT")
    if answer.failed:
        return [answer.failure("BIMI")]
    records = [t for t in answer.texts() if _BIMI.match(t)]
    if not records:
        return [info(codes.BIMI_MISSING, "no BIMI record: mailbox providers show no brand "
                     "logo (optional)", [answer.evidence()],
                     f'{name}. IN TXT "v=BIMI1; l=https://{domain}/logo.svg"')]
    ev = [answer.evidence()]
    problem = _problem(records)
    if problem:
        return [error(codes.BIMI_SYNTAX, f"{name}: {problem}", ev,
                      f'{name}. IN TXT "v=BIMI1; l=https://{domain}/logo.svg"')]
    out: list[Finding] = []
    if dmarc_enforcing is False:
        out.append(warning(codes.BIMI_DMARC_NOT_ENFORCING, "a BIMI record without an "
                           "enforcing DMARC policy: providers show no logo", ev,
                           "Publish DMARC with p=quarantine or p=reject."))
    if not parse_tags(records[0]).get("a", "").strip():
        # a warning, as checkdmarc has it: the record is valid but shows nothing at most
        # large providers, which is what publishing it was for
        out.append(warning(codes.BIMI_NO_CERTIFICATE, "the BIMI record has no a= mark "
                           "certificate: Gmail and Apple Mail show the logo only with a "
                           "VMC or CMC", ev, "Obtain a VMC or CMC for the logo and add "
                           "a=https://.../certificate.pem to the record."))
    return out


def _problem(records: list[str]) -> str | None:
    if len(records) > 1:
        return f"{len(records)} v=BIMI1 records"
    try:
        tags = parse_tags(records[0])
    except TagSyntaxError as exc:
        return str(exc)
    if next(iter(tags)) != "v" or tags["v"] != "BIMI1":
        return "the record must start with v=BIMI1"
    if "l" not in tags:
        return "the l= tag (logo location) is missing"
    for tag, suffix in (("l", ".svg"), ("a", ".pem")):
        value = tags.get(tag, "")
        if value and not value.lower().startswith("https://"):
            return f"{tag}={value} must be an https: URL"
        if value and not value.lower().split("?")[0].endswith(suffix):
            return f"{tag}={value} should point at a {suffix} file"
    return None
