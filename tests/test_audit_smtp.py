"""The SMTP probe against real `mailops serve` instances on loopback port 25."""

from __future__ import annotations

import hashlib
import os
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from audit_https import LocalCA, random_loopback
from conftest import KnotFactory, Server, start_server
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from mailops.audit import AuditOptions, DomainReport, audit
from mailops.audit import codes as C

MAIL = ('@ MX 10 mx\nmx A {ip}\n@ TXT "v=spf1 mx -all"\n'
        '_dmarc TXT "v=DMARC1; p=reject; rua=mailto:d@{d}"\n')


@pytest.fixture(scope="module")
def probed(knot_module: KnotFactory, tmp_path_factory: pytest.TempPathFactory
           ) -> Iterator[dict[str, DomainReport]]:
    if os.geteuid() != 0:
        if os.environ.get("CI"):
            pytest.fail("the SMTP probe tests bind port 25 on loopback: CI runs as root")
        pytest.skip("binding port 25 on loopback needs root")
    base = tmp_path_factory.mktemp("smtp")
    ca = LocalCA(base / "ca")
    leaves = {"valid": ca.leaf("valid", ["mx.smtp-ok.test"]),
              "expiring": ca.leaf("expiring", ["mx.smtp-expiring.test"], days=5),
              "expired": ca.leaf("expired", ["mx.smtp-expired.test"], days=-1)}
    tls = {name: ["--starttls", "--tls-cert", str(c), "--tls-key", str(k)]
           for name, (c, k) in leaves.items()}
    servers_args = {**tls, "selfsigned": ["--starttls"], "plain": ["--chaos", "rcpt:550:100"],
                    "refusing": ["--chaos", "connect:554:100"]}
    ips = {name: random_loopback() for name in [*servers_args, "down", "silent"]}
    # accepts connections and never greets: what a host that drops port 25 looks like
    silent = socket.create_server((ips["silent"], 25))
    servers: list[Server] = []
    for name, extra in servers_args.items():
        home = base / f"home-{name}"
        home.mkdir()
        servers.append(start_server(home, "--listen", f"{ips[name]}:25", "--workers", "1",
                                    *extra))
    # smtp-wrongname's MX host is served with the certificate of mx.smtp-expiring.test
    zones = {f"smtp-{d}.test": MAIL.format(ip=ips[s], d=f"smtp-{d}.test") for d, s in (
        ("ok", "valid"), ("wrongname", "expiring"), ("expiring", "expiring"),
        ("selfsigned", "selfsigned"), ("expired", "expired"), ("plain", "plain"),
        ("refusing", "refusing"), ("down", "down"), ("silent", "silent"))}
    # DANE: a matching DANE-EE record in a signed zone; a wrong one in an unsigned zone;
    # a DANE-TA-only record
    good_tlsa = spki_sha256(leaves["valid"][0])
    zones["smtp-ok.test"] += f"_25._tcp.mx TLSA 3 1 1 {good_tlsa}\n"
    zones["smtp-expiring.test"] += f"_25._tcp.mx TLSA 3 1 1 {'00' * 32}\n"
    zones["smtp-selfsigned.test"] += f"_25._tcp.mx TLSA 2 0 1 {good_tlsa}\n"
    srv = knot_module(zones, tsig=False, signed={"smtp-ok.test"})
    opts = AuditOptions(nameservers=[srv.nameserver], smtp=True, timeout=5, dnssec=False,
                        probe_selectors=False, mta_sts_fetch=False)
    try:
        with pytest.MonkeyPatch.context() as env:
            env.setenv("SSL_CERT_FILE", str(ca.ca_file))
            yield {r.domain: r for r in audit(sorted(zones), opts)}
    finally:
        silent.close()
        for server in servers:
            server.stop()


def spki_sha256(cert_file: Path) -> str:
    cert = x509.load_pem_x509_certificate(cert_file.read_bytes())
    spki = cert.public_key().public_bytes(serialization.Encoding.DER,
                                          serialization.PublicFormat.SubjectPublicKeyInfo)
    return hashlib.sha256(spki).hexdigest()


def smtp_codes(report: DomainReport) -> dict[str, str]:
    return {f.code: f.severity.value for f in report.findings
            if f.code.startswith(("smtp.", "dane."))}


def test_valid_certificate_gives_no_tls_finding(probed: dict[str, DomainReport]) -> None:
    # mailops serve is a catcher: it accepts any recipient, which is what an open relay does
    assert smtp_codes(probed["smtp-ok.test"]) == {C.SMTP_OPEN_RELAY: "error"}
    relay = next(f for f in probed["smtp-ok.test"].findings if f.code == C.SMTP_OPEN_RELAY)
    assert any(line.startswith("TLS: TLSv1.") for line in relay.evidence)


@pytest.mark.parametrize("domain,code,needle", [
    ("smtp-wrongname.test", C.SMTP_CERT_NAME_MISMATCH, "not valid for mx.smtp-wrongname.test"),
    ("smtp-selfsigned.test", C.SMTP_CERT_UNTRUSTED, "not trusted"),
    ("smtp-expired.test", C.SMTP_CERT_EXPIRED, "expired"),
    ("smtp-expiring.test", C.SMTP_CERT_EXPIRING, "expires in"),
    ("smtp-plain.test", C.SMTP_NO_STARTTLS, "does not offer STARTTLS"),
    ("smtp-refusing.test", C.SMTP_BANNER, "554 instead of 220"),
    ("smtp-down.test", C.SMTP_UNREACHABLE, "does not accept SMTP connections"),
])
def test_each_problem_is_reported_as_itself(probed: dict[str, DomainReport], domain: str,
                                            code: str, needle: str) -> None:
    report = probed[domain]
    found = smtp_codes(report)
    assert code in found, report.findings
    assert any(needle in f.message for f in report.findings if f.code == code)
    if code.startswith("smtp.cert_"):
        # a certificate problem is never "no STARTTLS", and the probe carries on
        assert C.SMTP_NO_STARTTLS not in found and C.SMTP_TLS_FAILED not in found
        assert C.SMTP_OPEN_RELAY in found


def test_no_answer_from_any_mx_is_info_not_an_error(probed: dict[str, DomainReport]) -> None:
    # a refused connection is the domain's problem; silence from every MX is more likely
    # this network blocking outbound port 25
    assert smtp_codes(probed["smtp-down.test"])[C.SMTP_UNREACHABLE] == "error"
    silent = probed["smtp-silent.test"]
    assert smtp_codes(silent) == {C.SMTP_UNREACHABLE: "info"}
    assert any("block outbound port 25" in f.message for f in silent.findings)


def test_relay_refused_and_probe_off_by_default(probed: dict[str, DomainReport]) -> None:
    assert C.SMTP_OPEN_RELAY not in smtp_codes(probed["smtp-plain.test"])  # RCPT got 550
    off = audit(["smtp-down.test"], AuditOptions(nameservers=["127.0.0.1:9"], timeout=0.2))
    assert not smtp_codes(off[0])


def test_dane_tlsa_against_the_presented_certificate(probed: dict[str, DomainReport]) -> None:
    assert not [c for c in smtp_codes(probed["smtp-ok.test"]) if c.startswith("dane.")]
    expiring = smtp_codes(probed["smtp-expiring.test"])
    assert expiring[C.DANE_MISMATCH] == "error" and expiring[C.DANE_UNSIGNED] == "warning"
    assert smtp_codes(probed["smtp-selfsigned.test"])[C.DANE_UNUSABLE] == "info"
