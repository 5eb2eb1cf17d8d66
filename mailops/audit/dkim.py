"""DKIM key records (RFC 6376 3.6.1, RFC 8463): selectors the user names plus a parallel
probe of common selectors. Keys are parsed with `cryptography` to learn type and size."""

from __future__ import annotations

import asyncio
import base64
import binascii
from dataclasses import dataclass, field

from cryptography.hazmat.primitives.asymmetric import ed25519, rsa
from cryptography.hazmat.primitives.serialization import load_der_public_key

from . import codes
from .dnsclient import Answer, DnsClient, Status
from .findings import Finding, error, info, warning
from .tags import TagSyntaxError, parse_tags

# The names big providers and common software use; kept short because every probe is
# a query per domain (bulk runs audit thousands).
COMMON_SELECTORS = (
    "default", "dkim", "mail", "selector1", "selector2", "google", "k1", "k2", "k3",
    "s1", "s2", "smtp", "mx", "key1", "dkim1", "sig1", "mandrill", "zoho", "fm1", "pm",
)


@dataclass
class DkimResult:
    """DKIM findings and the selectors that had a key record."""

    findings: list[Finding] = field(default_factory=list)
    found: list[str] = field(default_factory=list)


async def check_dkim(client: DnsClient, domain: str, selectors: list[str], *,
                     probe: bool = True) -> DkimResult:
    """Check the named selectors (absent = error) and, with `probe`, common ones."""
    result = DkimResult()
    named = list(dict.fromkeys(s.strip().lower() for s in selectors if s.strip()))
    probed = [s for s in COMMON_SELECTORS if s not in named] if probe else []
    named_answers = asyncio.gather(*(client.query(f"{s}._domainkey.{domain}", "TXT")
                                     for s in named))
    empty: Answer | None = None
    if probed:
        # RFC 8020: NXDOMAIN at _domainkey means nothing exists below it, so one query
        # replaces the 20 probes. A zone with selectors answers NOERROR/NODATA there
        # (an empty non-terminal), and then we probe.
        parent = await client.query(f"_domainkey.{domain}", "TXT")
        if parent.status is Status.absent and parent.error == "NXDOMAIN":
            empty, probed = parent, []
    answers = [*await named_answers, *await asyncio.gather(
        *(client.query(f"{s}._domainkey.{domain}", "TXT") for s in probed))]
    probe_failed = False
    for i, (selector, answer) in enumerate(zip([*named, *probed], answers, strict=True)):
        explicit = i < len(named)
        if answer.failed:
            if explicit:
                result.findings.append(answer.failure(f"DKIM selector {selector}"))
            probe_failed = probe_failed or not explicit
            continue
        records = [t for t in answer.texts() if _looks_like_key(t)]
        if not records:
            if explicit:
                result.findings.append(error(
                    codes.DKIM_MISSING, f"no DKIM key at selector {selector}: mail signed "
                    "with it fails verification", [answer.evidence()],
                    f"Publish the key: mailops dkim keygen --domain {domain} "
                    f"--selector {selector}"))
            continue
        result.found.append(selector)
        ev = [answer.evidence()]
        if len(records) > 1:
            result.findings.append(error(
                codes.DKIM_SYNTAX, f"selector {selector}: {len(records)} key records; "
                "verifiers may pick either", ev, "Keep one key record per selector."))
            continue
        result.findings += check_key_record(domain, selector, records[0], ev)
    # "not found" only when every probe got an answer: a failure proves nothing
    if not named and probe and not result.found and not probe_failed:
        why = (f"nothing exists below _domainkey.{domain}, so none of the "
               f"{len(COMMON_SELECTORS)} common selectors has one" if empty is not None
               else f"none at {len(probed)} common selectors")
        result.findings.append(info(
            codes.DKIM_NOT_FOUND, f"no DKIM key found ({why}); name yours with "
            "--selector to check it", [empty.evidence()] if empty is not None else [],
            f"mailops audit {domain} --selector <your selector>"))
    return result


def _looks_like_key(text: str) -> bool:
    """A DKIM key record: has a p= tag (v=DKIM1 is optional, RFC 6376 3.6.1)."""
    low = text.lower().replace(" ", "")
    return low.startswith("v=dkim1") or ";p=" in f";{low}"


def check_key_record(domain: str, selector: str, record: str,
                     ev: list[str]) -> list[Finding]:
    """Syntax, revocation, testing mode, hash algorithms and key strength of one record."""
    name = f"{selector}._domainkey.{domain}"
    try:
        tags = parse_tags(record)
    except TagSyntaxError as exc:
        return [_syntax(name, str(exc), ev)]
    if "v" in tags and (next(iter(tags)) != "v" or tags["v"] != "DKIM1"):
        return [_syntax(name, "v= must be the first tag and be DKIM1", ev)]
    if "p" not in tags:
        return [_syntax(name, "the required p= tag is missing", ev)]
    out: list[Finding] = []
    flags = [f.strip() for f in tags.get("t", "").split(":")]
    if "y" in flags:
        out.append(warning(
            codes.DKIM_TESTING_MODE, f"{name}: t=y (testing mode): verifiers may treat "
            "signatures as unsigned mail", ev, "Remove t=y once signing works."))
    hashes = [h.strip().lower() for h in tags.get("h", "").split(":") if h.strip()]
    if hashes and "sha256" not in hashes:
        out.append(warning(
            codes.DKIM_SHA1_ONLY, f"{name}: h={tags['h']} allows only SHA-1, which "
            "verifiers no longer accept (RFC 8301)", ev, "Remove h= or set h=sha256."))
    p = "".join(tags["p"].split())
    if not p:
        out.append(warning(
            codes.DKIM_REVOKED, f"{name}: the key is revoked (empty p=); mail signed with "
            "it fails", ev, "Sign with a current selector; remove the record when no "
            "signed mail is in transit."))
        return out
    return out + _key_strength(name, tags.get("k", "rsa").lower(), p, ev)


def _key_strength(name: str, kind: str, p: str, ev: list[str]) -> list[Finding]:
    try:
        raw = base64.b64decode(p, validate=True)
    except (binascii.Error, ValueError):
        return [_syntax(name, "p= is not valid base64", ev)]
    if kind == "ed25519":
        try:
            ed25519.Ed25519PublicKey.from_public_bytes(raw)
        except ValueError:
            return [_syntax(name, "p= is not a 32-byte Ed25519 public key", ev)]
        return []
    if kind != "rsa":
        return [_syntax(name, f"unknown key type k={kind}", ev)]
    try:
        key = load_der_public_key(raw)
    except (ValueError, TypeError):
        return [_syntax(name, "p= is not a DER-encoded RSA public key", ev)]
    if not isinstance(key, rsa.RSAPublicKey):
        return [_syntax(name, f"k=rsa but p= holds a {type(key).__name__}", ev)]
    bits = key.key_size
    fix = (f"Generate a 2048-bit key under a new selector (mailops dkim keygen --bits 2048) "
           f"and retire {name.split('.')[0]}.")
    if bits < 1024:
        return [error(codes.DKIM_KEY_TOO_SHORT, f"{name}: RSA key of {bits} bits; verifiers "
                      "reject keys under 1024 bits (RFC 8301)", ev, fix)]
    if bits < 2048:
        return [warning(codes.DKIM_WEAK_KEY, f"{name}: RSA key of {bits} bits; 2048 bits is "
                        "the current recommendation", ev, fix)]
    return []


def _syntax(name: str, why: str, ev: list[str]) -> Finding:
    return error(codes.DKIM_SYNTAX, f"{name}: {why}", ev,
                 "Publish the record as printed by mailops dkim keygen.")
