"""DANE for SMTP (RFC 7672): the TLSA records of an MX host against the certificate it
presented to the SMTP probe. Only DANE-EE (usage 3) can be checked from the leaf alone;
PKIX usages (0, 1) are not for SMTP, and DANE-TA (2) needs the chain (info)."""

from __future__ import annotations

import hashlib

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from . import codes
from .dnsclient import DnsClient
from .findings import Finding, error, info, warning


def _selected(cert_der: bytes, selector: int) -> bytes:
    if selector == 0:
        return cert_der
    cert = x509.load_der_x509_certificate(cert_der)
    return cert.public_key().public_bytes(serialization.Encoding.DER,
                                          serialization.PublicFormat.SubjectPublicKeyInfo)


def tlsa_matches(record: object, cert_der: bytes) -> bool:
    """Does one TLSA rdata (usage 3) match the certificate?"""
    selector, mtype = getattr(record, "selector", -1), getattr(record, "mtype", -1)
    if selector not in (0, 1) or mtype not in (0, 1, 2):
        return False
    data = _selected(cert_der, selector)
    digest = {0: data, 1: hashlib.sha256(data).digest(), 2: hashlib.sha512(data).digest()}
    return bytes(getattr(record, "cert", b"")) == digest[mtype]


async def check_dane(client: DnsClient, host: str, port: int,
                     cert_der: bytes | None) -> list[Finding]:
    """Findings for the TLSA records at `_PORT._tcp.HOST` (none when there are none)."""
    name = f"_{port}._tcp.{host}"
    answer = await client.query(name, "TLSA", dnssec=True)
    if answer.failed:
        return [answer.failure(f"DANE TLSA of MX host {host}")]
    if not answer.ok:
        return []
    ev = [answer.evidence()]
    out: list[Finding] = []
    if answer.rrsig is None:
        out.append(warning(codes.DANE_UNSIGNED, f"{name} has TLSA records but no DNSSEC "
                           "signature: senders ignore DANE without DNSSEC", ev,
                           "Sign the zone holding the MX host name (and publish its DS)."))
    usable = [r for r in answer.rdata if r.usage in (2, 3)]
    if not usable:
        return [*out, warning(codes.DANE_UNUSABLE, f"{name}: only PKIX usages (0, 1), which "
                              "RFC 7672 says SMTP senders do not use", ev,
                              "Publish DANE-EE records: 3 1 1 <SHA-256 of the public key>.")]
    ee = [r for r in usable if r.usage == 3]
    if cert_der is None or not ee:
        if not ee:
            out.append(info(codes.DANE_UNUSABLE, f"{name}: DANE-TA (usage 2) only; the "
                            "audit checks DANE-EE records against the certificate", ev))
        return out
    if not any(tlsa_matches(r, cert_der) for r in ee):
        out.append(error(codes.DANE_MISMATCH, f"no TLSA record at {name} matches the "
                         f"certificate {host} presents: DANE senders will not deliver",
                         ev, "Publish the TLSA of the current key before switching keys "
                         f"(3 1 1 {hashlib.sha256(_selected(cert_der, 1)).hexdigest()})."))
    return out
