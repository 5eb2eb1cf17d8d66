"""DNSSEC: is the domain's zone signed, and does the chain from a trust anchor down to the
answers the audit used (MX, the SPF TXT, the DMARC TXT) validate?

Validation is dnspython's (`dns.dnssec.validate`, `make_ds`); this module only decides
what to validate against what. Trust anchors are DS or DNSKEY records in zone-file
format (`--trust-anchor FILE`); the root zone's KSK DS records are built in.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import dns.dnssec
import dns.exception
import dns.name
import dns.rdataset
import dns.rdatatype
import dns.zone

from mailops.errors import AuditError, UsageError

from . import codes
from .dnsclient import Answer, DnsClient
from .findings import Finding, Severity, error, info

# IANA root trust anchors (KSK-2017 and KSK-2024), as published in root-anchors.xml.
ROOT_ANCHORS = """\
. 172800 IN DS 20326 8 2 E06D44B80B8F1D39A95C0B0D7C65D08458E880409BBC683457104237C7F8EC8D
. 172800 IN DS 38696 8 2 683D2D0ACB8C9B712A1948B27F741219298D0A450D612C483AF444A4C0FB2B16
"""


@dataclass
class TrustAnchors:
    """DS and DNSKEY records trusted without proof, by owner name."""

    ds: dict[dns.name.Name, list[Any]] = field(default_factory=dict)
    keys: dict[dns.name.Name, list[Any]] = field(default_factory=dict)

    def closest(self, zone: dns.name.Name) -> dns.name.Name | None:
        """The anchored name nearest above (or at) `zone`."""
        best: dns.name.Name | None = None
        for name in (*self.ds, *self.keys):
            if zone.is_subdomain(name) and (best is None or len(name) > len(best)):
                best = name
        return best


def parse_trust_anchors(text: str, *, with_root: bool = True) -> TrustAnchors:
    """DS/DNSKEY records in zone-file format (absolute owner names) -> TrustAnchors."""
    anchors = TrustAnchors()
    for source in ([ROOT_ANCHORS] if with_root else []) + [text]:
        try:
            zone = dns.zone.from_text(source, origin=dns.name.root, relativize=False,
                                      check_origin=False)
        except (dns.exception.DNSException, ValueError) as exc:
            raise UsageError(f"bad --trust-anchor file: {exc}") from None
        for name, node in zone.nodes.items():
            for rdataset in node.rdatasets:
                if rdataset.rdtype == dns.rdatatype.DS:
                    anchors.ds.setdefault(name, []).extend(rdataset)
                elif rdataset.rdtype == dns.rdatatype.DNSKEY:
                    anchors.keys.setdefault(name, []).extend(rdataset)
    return anchors


def load_trust_anchors(path: Path | None) -> TrustAnchors:
    """The root anchors plus those in `path` (when given)."""
    if path is None:
        return parse_trust_anchors("")
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise AuditError(f"cannot read {path}: {exc}") from None
    return parse_trust_anchors(text)


class _Bogus(Exception):
    def __init__(self, message: str, evidence: list[str]) -> None:
        super().__init__(message)
        self.evidence = evidence


class _Failed(Exception):
    def __init__(self, answer: Answer, context: str) -> None:
        super().__init__(context)
        self.answer = answer


async def check_dnssec(client: DnsClient, domain: str, anchors: TrustAnchors) -> list[Finding]:
    """`dnssec.unsigned` (info), `dnssec.bogus` (error), or nothing when the chain validates."""
    try:
        return await _check(client, domain, anchors)
    except _Bogus as exc:
        return [error(codes.DNSSEC_BOGUS, f"DNSSEC is broken: {exc}; validating resolvers "
                      "answer SERVFAIL for this domain, so mail to it bounces", exc.evidence,
                      "Re-sign the zone, or publish DS records at the parent matching the "
                      "zone's current key (remove the DS to go unsigned).")]
    except _Failed as exc:
        finding = exc.answer.failure(f"DNSSEC chain ({exc})")
        if str(exc).startswith("trust anchor"):
            # The chain above the domain (usually the root) is out of this resolver's
            # reach, as with an authoritative-only --nameserver: the domain is not at fault.
            return [replace(finding, severity=Severity.info,
                            fix="Point --nameserver at a recursive resolver, or give "
                            "--trust-anchor for the zone.")]
        return [finding]


async def _check(client: DnsClient, domain: str, anchors: TrustAnchors) -> list[Finding]:
    apex = await _apex(client, domain)
    if len(apex) == 1:
        return []  # no zone holds the name (dns.nxdomain says so); the root is not at fault
    apex_text = apex.to_text(omit_final_dot=True)
    dnskey = await _must(client, apex_text, "DNSKEY", "zone keys")
    ds = await _must(client, apex_text, "DS", "DS at the parent")
    anchored = anchors.closest(apex)
    if not dnskey.ok:
        if ds.ok:
            raise _Bogus(f"the parent publishes DS for {apex_text} but the zone has no DNSKEY",
                         [ds.evidence(), dnskey.evidence()])
        if anchored == apex:
            raise _Bogus(f"a trust anchor is configured for {apex_text} but the zone is "
                         "not signed", [dnskey.evidence()])
        return [info(codes.DNSSEC_UNSIGNED, f"the zone {apex_text} is not signed (no DNSSEC): "
                     "answers can be forged on the path", [dnskey.evidence(), ds.evidence()],
                     "Sign the zone (most DNS hosts offer it) and publish the DS at the "
                     "registrar.")]
    if anchored is None:
        return []  # only possible with an empty anchor set: nothing to validate against
    keys = await _anchor_keys(client, anchored, anchors)
    zone = anchored
    for cut in await _cuts_below(client, anchored, apex):
        cut_text = cut.to_text(omit_final_dot=True)
        cut_ds = await _must(client, cut_text, "DS", "DS at the parent")
        if not cut_ds.ok:  # an insecure delegation: unsigned as far as validators know
            return [info(codes.DNSSEC_UNSIGNED, f"{cut_text} has no DS at its parent: "
                         f"validators treat {apex_text} as unsigned although it has keys",
                         [cut_ds.evidence()],
                         f"Publish the DS of {cut_text} at the registrar.")]
        _validate(cut_ds, zone, keys)
        keys = await _keys_from_ds(client, cut, list(cut_ds.rdata))
        zone = cut
    for name, rdtype in ((domain, "MX"), (domain, "TXT"), (f"_dmarc.{domain}", "TXT")):
        answer = await _must(client, name, rdtype, "answer used by the audit")
        signer = answer.rrsig[0].signer if answer.rrsig is not None else apex
        if answer.ok and signer == apex:  # a name delegated to another zone: not ours
            _validate(answer, apex, keys)
    return []


async def _must(client: DnsClient, name: str, rdtype: str, what: str) -> Answer:
    answer = await client.query(name, rdtype, dnssec=True)
    if answer.failed:
        raise _Failed(answer, what)
    return answer


async def _apex(client: DnsClient, domain: str) -> dns.name.Name:
    """The zone holding `domain`: the nearest name at or above it with a SOA."""
    name = dns.name.from_text(domain)
    while len(name) > 1:
        soa = await _must(client, name.to_text(omit_final_dot=True), "SOA", "zone apex")
        if soa.ok and soa.rrset is not None and soa.rrset.name == name:
            return name
        name = name.parent()
    return name


async def _cuts_below(client: DnsClient, top: dns.name.Name,
                      apex: dns.name.Name) -> list[dns.name.Name]:
    """The zone cuts from just below `top` down to `apex` (inclusive)."""
    cuts: list[dns.name.Name] = []
    labels = apex.relativize(top).labels if apex != top else ()
    name = top
    for label in reversed(labels):
        name = dns.name.Name((label, *name.labels))
        if name == apex:
            cuts.append(name)
            break
        soa = await _must(client, name.to_text(omit_final_dot=True), "SOA", "zone cut")
        if soa.ok and soa.rrset is not None and soa.rrset.name == name:
            cuts.append(name)
    return cuts


def _rdataset(records: list[Any], ttl: int = 3600) -> dns.rdataset.Rdataset:
    return dns.rdataset.from_rdata_list(ttl, records)


def _validate(answer: Answer, signer: dns.name.Name, keys: dns.rdataset.Rdataset) -> None:
    """The answer's RRSIG must verify with `keys` of the zone `signer`."""
    if answer.rrsig is None:
        raise _Bogus(f"{answer.name} {answer.rdtype} has no signature in a signed zone",
                     [answer.evidence()])
    try:
        dns.dnssec.validate(answer.rrset, answer.rrsig, {signer: keys})
    except (dns.exception.ValidationFailure, dns.exception.UnsupportedAlgorithm) as exc:
        raise _Bogus(f"the signature of {answer.name} {answer.rdtype} does not validate "
                     f"({exc})", [answer.evidence(), answer.rrsig.to_text()]) from None


async def _anchor_keys(client: DnsClient, zone: dns.name.Name,
                       anchors: TrustAnchors) -> dns.rdataset.Rdataset:
    """The anchored zone's DNSKEY set, validated by the anchor's DS or DNSKEY records."""
    text = zone.to_text(omit_final_dot=True)
    answer = await client.query(text, "DNSKEY", dnssec=True)
    if answer.failed:
        raise _Failed(answer, f"trust anchor {zone.to_text()} DNSKEY")
    if not answer.ok:
        raise _Bogus(f"the trust anchor names {text}, which has no DNSKEY", [answer.evidence()])
    trusted = [k for k in answer.rdata if k in anchors.keys.get(zone, [])]
    trusted += _matching_ds(zone, list(answer.rdata), anchors.ds.get(zone, []))
    if not trusted:
        raise _Bogus(f"no DNSKEY of {text} matches the trust anchor", [answer.evidence()])
    _validate(answer, zone, _rdataset(trusted))
    return _rdataset(list(answer.rdata))


async def _keys_from_ds(client: DnsClient, zone: dns.name.Name,
                        ds: list[Any]) -> dns.rdataset.Rdataset:
    """A child zone's DNSKEY set, validated through the parent's (validated) DS."""
    answer = await _must(client, zone.to_text(omit_final_dot=True), "DNSKEY", "zone keys")
    if not answer.ok:
        raise _Bogus(f"the parent publishes DS for {zone.to_text()} but the zone has no DNSKEY",
                     [answer.evidence()])
    trusted = _matching_ds(zone, list(answer.rdata), ds)
    if not trusted:
        raise _Bogus(f"no DNSKEY of {zone.to_text()} matches its DS at the parent",
                     [answer.evidence(), *(d.to_text() for d in ds)])
    _validate(answer, zone, _rdataset(trusted))
    return _rdataset(list(answer.rdata))


def _matching_ds(zone: dns.name.Name, keys: list[Any], ds: list[Any]) -> list[Any]:
    out = []
    for key in keys:
        for d in ds:
            try:
                if dns.dnssec.make_ds(zone, key, d.digest_type) == d:
                    out.append(key)
                    break
            except (dns.exception.UnsupportedAlgorithm, ValueError):
                continue
    return out
