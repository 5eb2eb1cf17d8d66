"""The MTA-STS policy file (RFC 8461 3.2, 3.3): fetched over HTTPS from
`https://mta-sts.DOMAIN/.well-known/mta-sts.txt` with certificate validation (a private
CA via `SSL_CERT_FILE`), no redirects, then parsed and compared with the real MX hosts.

The host is resolved through the audit's own DNS client (so `--nameserver` applies);
the connection goes to that address with the policy host as SNI and Host header.
"""

from __future__ import annotations

import asyncio
import ipaddress
import os
import ssl
from typing import TYPE_CHECKING

from . import codes
from .dnsclient import DnsClient
from .findings import Finding, error, info, warning

if TYPE_CHECKING:
    import httpx

PORT = 443
MAX_BYTES = 64 * 1024  # RFC 8461 3.3: senders may refuse larger policies
MAX_AGE_LIMIT = 31557600
MIN_SENSIBLE_AGE = 86400  # a day: shorter policies expire between a sender's visits


async def check_policy(client: DnsClient, domain: str, mx_hosts: list[str],
                       timeout: float) -> list[Finding]:
    """Fetch and check the policy a valid `_mta-sts` record announces."""
    host = f"mta-sts.{domain}"
    url = f"https://{host}/.well-known/mta-sts.txt"
    a, aaaa = await asyncio.gather(client.query(host, "A"), client.query(host, "AAAA"))
    for answer in (a, aaaa):
        if answer.failed:
            return [answer.failure("MTA-STS policy host")]
    addresses = [r.to_text() for x in (a, aaaa) if x.ok for r in x.rdata]
    if addresses:
        text, evidence = await _fetch(host, addresses, timeout)
    else:
        text, evidence = None, [a.evidence(), aaaa.evidence(), f"{host}: no address"]
    if text is None:
        why = evidence[-1].split(": ", 1)[1]
        return [error(codes.MTA_STS_POLICY_UNREACHABLE, f"the MTA-STS policy at {url} cannot "
                      f"be fetched: {why}; senders ignore MTA-STS for this domain",
                      evidence, f"Serve the policy at {url} over HTTPS with a certificate "
                      f"valid for {host} (mailops mta-sts policy writes the file).")]
    return _check_text(domain, url, text, mx_hosts)


async def _fetch(host: str, addresses: list[str], timeout: float) -> tuple[str | None, list[str]]:
    """The policy text from the first address that serves it, and what each attempt saw."""
    # Imported here: httpx's package import pulls in click and rich (its command-line
    # entry point), which the engine must not load, and costs ~0.5 s of start-up.
    import httpx

    evidence: list[str] = []
    async with httpx.AsyncClient(timeout=timeout, follow_redirects=False,
                                 verify=_tls_context()) as http:
        for address in addresses:
            ip = ipaddress.ip_address(address)
            netloc = f"[{ip}]" if ip.version == 6 else str(ip)
            try:
                response = await http.get(
                    f"https://{netloc}:{PORT}/.well-known/mta-sts.txt",
                    headers={"Host": host}, extensions={"sni_hostname": host})
            except httpx.HTTPError as exc:
                evidence.append(f"{address}: {_why(exc)}")
                continue
            if response.status_code != 200:
                evidence.append(f"{address}: HTTP {response.status_code}"
                                + (" (redirects are not followed)"
                                   if response.is_redirect else ""))
                continue
            if len(response.content) > MAX_BYTES:
                evidence.append(f"{address}: policy of {len(response.content)} bytes")
                continue
            return response.content.decode("utf-8", "replace"), evidence
    return None, evidence


def _tls_context() -> ssl.SSLContext:
    """The system trust store, or the CA file in SSL_CERT_FILE (a private CA)."""
    cafile = os.environ.get("SSL_CERT_FILE")
    return ssl.create_default_context(cafile=cafile) if cafile else \
        ssl.create_default_context()


def _why(exc: httpx.HTTPError) -> str:
    """A certificate problem said as such, never as 'unreachable'."""
    import httpx

    cause: BaseException | None = exc
    while cause is not None:
        if isinstance(cause, ssl.SSLCertVerificationError):
            return f"certificate not valid: {cause.verify_message}"
        if isinstance(cause, ssl.SSLError):
            return f"TLS error: {cause.reason or cause}"
        cause = cause.__cause__ or cause.__context__
    if isinstance(exc, httpx.TimeoutException):
        return "timed out"
    return f"connection failed ({type(exc).__name__}: {exc})"


def parse_policy(text: str) -> tuple[dict[str, str], list[str], list[str]]:
    """(fields, mx patterns, problems) of a policy file."""
    fields: dict[str, str] = {}
    mx: list[str] = []
    problems: list[str] = []
    for line in text.replace("\r\n", "\n").split("\n"):
        if not line.strip():
            continue
        key, sep, value = line.partition(":")
        if not sep:
            problems.append(f"line {line!r} is not 'key: value'")
            continue
        key, value = key.strip(), value.strip()
        if key == "mx":
            mx.append(value.lower().rstrip("."))
        else:
            fields.setdefault(key, value)
    if fields.get("version") != "STSv1":
        problems.append("version: STSv1 is missing")
    if fields.get("mode") not in ("enforce", "testing", "none"):
        problems.append(f"mode must be enforce, testing or none (got {fields.get('mode')!r})")
    age = fields.get("max_age", "")
    if not age.isdigit() or int(age) > MAX_AGE_LIMIT:
        problems.append(f"max_age must be 0 to {MAX_AGE_LIMIT} seconds (got {age!r})")
    if fields.get("mode") in ("enforce", "testing") and not mx:
        problems.append("no mx: lines")
    return fields, mx, problems


def mx_matches(host: str, pattern: str) -> bool:
    """RFC 8461 4.1: exact, or `*.` matching exactly one left-most label."""
    host = host.lower().rstrip(".")
    if pattern.startswith("*."):
        return host.count(".") >= 1 and host.split(".", 1)[1] == pattern[2:]
    return host == pattern


def _check_text(domain: str, url: str, text: str, mx_hosts: list[str]) -> list[Finding]:
    fields, patterns, problems = parse_policy(text)
    ev = [f"{url}: " + " | ".join(line.strip() for line in text.splitlines() if line.strip())]
    if problems:
        return [error(codes.MTA_STS_POLICY_SYNTAX, f"the MTA-STS policy is invalid: "
                      f"{'; '.join(problems)}", ev, "version: STSv1\nmode: enforce\n"
                      f"mx: mail.{domain}\nmax_age: 604800")]
    out: list[Finding] = []
    mode = fields["mode"]
    if mode == "testing":
        out.append(info(codes.MTA_STS_MODE_TESTING, "MTA-STS mode: testing — senders report "
                        "failures but still deliver without TLS", ev,
                        "Switch to mode: enforce once TLS-RPT reports are clean."))
    elif mode == "none":
        out.append(info(codes.MTA_STS_MODE_NONE, "MTA-STS mode: none — the policy is "
                        "withdrawn", ev))
        return out
    if int(fields["max_age"]) < MIN_SENSIBLE_AGE:
        out.append(warning(codes.MTA_STS_MAX_AGE_SHORT, f"max_age {fields['max_age']} s: the "
                           "policy expires before senders see it again, so it rarely "
                           "protects anything", ev, "max_age: 604800 (a week) or more"))
    unmatched = [h for h in mx_hosts if not any(mx_matches(h, p) for p in patterns)]
    if unmatched:
        make = error if mode == "enforce" else warning
        out.append(make(codes.MTA_STS_MX_MISMATCH, f"MX host(s) {', '.join(unmatched)} not "
                        f"covered by the policy's mx: lines ({', '.join(patterns)}); "
                        + ("senders that enforce MTA-STS will not deliver to them"
                           if mode == "enforce" else "senders report these as failures"),
                        ev, "\n".join(f"mx: {h}" for h in unmatched)))
    return out
