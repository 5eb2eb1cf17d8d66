"""SMTP probe of MX hosts (aiosmtplib): banner, EHLO, STARTTLS, the TLS version and the
certificate, and an open-relay test. No message is ever sent: the relay test stops
after RCPT TO and resets.

A certificate problem is reported as what it is (expired, untrusted, wrong name),
never as "no STARTTLS": the probe retries without verification to learn the rest.
"""

from __future__ import annotations

import asyncio
import datetime
import socket
import ssl
from dataclasses import dataclass, field

import aiosmtplib
from cryptography import x509

from . import codes
from .dane import check_dane
from .dnsclient import DnsClient
from .findings import Finding, error, info, warning

PORT = 25
RELAY_RECIPIENT = "relay-test@example.com"  # RFC 2606: never a domain the MX serves
EXPIRY_WARNING = datetime.timedelta(days=14)
_EXPIRED, _HOSTNAME = 10, 62  # OpenSSL X509_V_ERR_CERT_HAS_EXPIRED, ..._HOSTNAME_MISMATCH


@dataclass
class _Probe:
    host: str
    address: str
    findings: list[Finding] = field(default_factory=list)
    transcript: list[str] = field(default_factory=list)
    cert_der: bytes | None = None  # what the server presented, for DANE
    silent: bool = False  # the connection timed out or had no route (not refused)


async def check_smtp(client: DnsClient, hosts: dict[str, list[str]], *, timeout: float,
                     port: int = PORT) -> list[Finding]:
    """Probe each MX host once (its first address), all hosts concurrently; then check
    its DANE TLSA records against the certificate it presented."""
    probes = [_Probe(h, addrs[0]) for h, addrs in hosts.items() if addrs]
    await asyncio.gather(*(_probe(p, timeout, port) for p in probes))
    if probes and all(p.silent for p in probes):
        _blocked_here(probes, port)
    dane = await asyncio.gather(*(check_dane(client, p.host, port, p.cert_der)
                                  for p in probes))
    return [f for p, extra in zip(probes, dane, strict=True) for f in [*p.findings, *extra]]


def _blocked_here(probes: list[_Probe], port: int) -> None:
    """No MX host answered at all: far likelier that this network blocks outbound
    port 25 (most ISPs and clouds do) than that every MX is down, so say that, as info."""
    for p in probes:
        p.findings[:] = [info(codes.SMTP_UNREACHABLE, f"MX host {p.host} ({p.address}) gave "
                              f"no answer on port {port}; this network may block outbound "
                              "port 25, so the SMTP probe could not run",
                              f.evidence, "Run the audit from a host that can reach port 25, "
                              "or pass --no-smtp.")
                         if f.code == codes.SMTP_UNREACHABLE else f for f in p.findings]


def _context(verify: bool) -> ssl.SSLContext:
    if verify:
        return ssl.create_default_context()  # honours SSL_CERT_FILE via OpenSSL's env
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


async def _session(p: _Probe, timeout: float, port: int) -> aiosmtplib.SMTP | None:
    """Connected and greeted with EHLO, or None with the finding recorded."""
    smtp = aiosmtplib.SMTP(hostname=p.address, port=port, timeout=timeout, start_tls=False,
                           local_hostname=socket.getfqdn())
    try:
        banner = await smtp.connect()
    except aiosmtplib.SMTPConnectResponseError as exc:  # greeted, but not with 220
        p.findings.append(error(codes.SMTP_BANNER, f"MX host {p.host} greets with "
                                f"{exc.code} instead of 220: senders go away",
                                [f"<- {exc.code} {exc.message}"],
                                "Check the server's logs, limits and blocklists of clients."))
        return None
    except (aiosmtplib.SMTPException, OSError) as exc:
        cause = exc.__cause__ or exc
        p.silent = isinstance(cause, TimeoutError | aiosmtplib.SMTPConnectTimeoutError) or (
            isinstance(cause, OSError) and not isinstance(cause, ConnectionRefusedError))
        p.findings.append(error(codes.SMTP_UNREACHABLE, f"MX host {p.host} ({p.address}) "
                                f"does not accept SMTP connections on port {port}: {exc}",
                                [f"connect {p.address}:{port}: {exc}"],
                                "Start the mail server or open port 25 to the internet."))
        return None
    p.transcript.append(f"<- {banner.code} {banner.message}")
    if banner.code != 220:
        p.findings.append(error(codes.SMTP_BANNER, f"MX host {p.host} greets with "
                                f"{banner.code} instead of 220: senders go away",
                                p.transcript[:], "Check the server's logs and limits."))
        smtp.close()
        return None
    try:
        reply = await smtp.ehlo()
    except aiosmtplib.SMTPException as exc:
        p.findings.append(error(codes.SMTP_BANNER, f"MX host {p.host} refuses EHLO: {exc}",
                                p.transcript[:], "Accept EHLO from any client name."))
        smtp.close()
        return None
    p.transcript.append(f"<- {reply.code} {reply.message.splitlines()[0]}")
    return smtp


async def _probe(p: _Probe, timeout: float, port: int) -> None:
    smtp = await _session(p, timeout, port)
    if smtp is None:
        return
    if not smtp.supports_extension("starttls"):
        p.findings.append(error(codes.SMTP_NO_STARTTLS, f"MX host {p.host} does not offer "
                                "STARTTLS: mail to it travels in clear text", p.transcript[:],
                                "Enable STARTTLS with a certificate for the host name."))
        await _relay_test(p, smtp)
        return
    try:
        await smtp.starttls(tls_context=_context(True), server_hostname=p.host)
    except (aiosmtplib.SMTPException, ssl.SSLError, OSError) as exc:
        cert_error = _cert_error(exc)
        smtp.close()
        if cert_error is None:
            p.findings.append(error(codes.SMTP_TLS_FAILED, f"MX host {p.host} offers STARTTLS "
                                    f"but the TLS handshake fails: {exc}", p.transcript[:],
                                    "Check the server's TLS configuration."))
            return
        p.findings.append(_cert_finding(p, cert_error))
        retry = await _session(p, timeout, port)  # learn the rest without verification
        if retry is None:
            return
        smtp = retry
        try:
            await smtp.starttls(tls_context=_context(False), server_hostname=p.host)
        except (aiosmtplib.SMTPException, ssl.SSLError, OSError) as exc:
            p.findings.append(error(codes.SMTP_TLS_FAILED, f"MX host {p.host}: TLS fails even "
                                    f"without certificate checks: {exc}", p.transcript[:],
                                    "Check the server's TLS configuration."))
            smtp.close()
            return
    _tls_facts(p, smtp)
    await smtp.ehlo()
    await _relay_test(p, smtp)


def _cert_error(exc: BaseException) -> ssl.SSLCertVerificationError | None:
    cause: BaseException | None = exc
    while cause is not None:
        if isinstance(cause, ssl.SSLCertVerificationError):
            return cause
        cause = cause.__cause__ or cause.__context__
    return None


def _cert_finding(p: _Probe, exc: ssl.SSLCertVerificationError) -> Finding:
    why = exc.verify_message or str(exc)
    evidence = [*p.transcript, f"TLS: {why}"]
    fix = (f"Install a certificate from a public CA for {p.host} (with its chain), "
           "and renew it before it expires.")
    if exc.verify_code == _EXPIRED:
        return warning(codes.SMTP_CERT_EXPIRED, f"MX host {p.host}: the TLS certificate has "
                       "expired; senders that check (MTA-STS, DANE) will not deliver",
                       evidence, fix)
    if exc.verify_code == _HOSTNAME:
        return warning(codes.SMTP_CERT_NAME_MISMATCH, f"MX host {p.host}: the TLS "
                       f"certificate is not valid for {p.host} ({why})", evidence, fix)
    return warning(codes.SMTP_CERT_UNTRUSTED, f"MX host {p.host}: the TLS certificate is not "
                   f"trusted ({why})", evidence, fix)


def _tls_facts(p: _Probe, smtp: aiosmtplib.SMTP) -> None:
    """TLS version and certificate expiry, from the live connection."""
    transport = smtp.transport
    tls = transport.get_extra_info("ssl_object") if transport is not None else None
    if not isinstance(tls, ssl.SSLObject | ssl.SSLSocket):
        return
    version = tls.version() or "unknown"
    cipher = tls.cipher()
    p.transcript.append(f"TLS: {version} {cipher[0] if cipher else ''}".strip())
    if version in ("SSLv3", "TLSv1", "TLSv1.1"):
        p.findings.append(warning(codes.SMTP_TLS_OLD, f"MX host {p.host} negotiates {version}; "
                                  "TLS 1.2 or later is expected", p.transcript[:],
                                  "Disable TLS versions before 1.2 on the server."))
    der = tls.getpeercert(binary_form=True)
    p.cert_der = der
    if der:
        cert = x509.load_der_x509_certificate(der)
        left = cert.not_valid_after_utc - datetime.datetime.now(datetime.UTC)
        if datetime.timedelta(0) < left < EXPIRY_WARNING:
            p.findings.append(warning(codes.SMTP_CERT_EXPIRING, f"MX host {p.host}: the TLS "
                                      f"certificate expires in {left.days} days",
                                      [*p.transcript, f"notAfter {cert.not_valid_after_utc}"],
                                      "Renew the certificate."))


async def _relay_test(p: _Probe, smtp: aiosmtplib.SMTP) -> None:
    """MAIL FROM + RCPT TO a foreign address; a 2xx to RCPT is an open relay. No DATA."""
    try:
        await smtp.mail("")
        reply = await smtp.rcpt(RELAY_RECIPIENT)
    except aiosmtplib.SMTPResponseException:
        reply = None  # refused: what a non-relay does
    except aiosmtplib.SMTPException:
        smtp.close()
        return
    if reply is not None and 200 <= reply.code < 300:
        p.findings.append(error(codes.SMTP_OPEN_RELAY, f"MX host {p.host} accepts mail for "
                                f"{RELAY_RECIPIENT}, a domain it does not serve: an open "
                                "relay is abused for spam within hours and then blocklisted",
                                [*p.transcript, f"RCPT TO:<{RELAY_RECIPIENT}> -> {reply.code}"],
                                "Accept RCPT only for your own domains (or authenticated "
                                "clients)."))
    try:
        await smtp.rset()
        await smtp.quit()
    except aiosmtplib.SMTPException:
        smtp.close()
