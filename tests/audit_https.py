"""An HTTPS server on a loopback address, port 443, with certificates from a test CA:
the `mta-sts.DOMAIN` policy host for the audit's MTA-STS tests.

    srv = PolicyServer(tmp_path, {"mta-sts.example.test": "version: STSv1\\n..."},
                       unsigned_hosts={"mta-sts.badcert.test"}).start()
    os.environ["SSL_CERT_FILE"] = str(srv.ca_file)

Each served host gets its policy at /.well-known/mta-sts.txt (by the Host header);
other paths and hosts, and hosts whose policy is None (still in the certificate), get
404. `unsigned_hosts` are served too but left out of the
certificate, so a client validating the name fails. The port is 443 because MTA-STS
fixes it; the address is a random 127.x.y.z so parallel test workers do not collide.
"""

from __future__ import annotations

import datetime
import os
import random
import ssl
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


class LocalCA:
    """A throwaway certificate authority (ECDSA P-256) writing PEM files under `dirpath`."""

    def __init__(self, dirpath: Path) -> None:
        self.dir = dirpath
        self.dir.mkdir(parents=True, exist_ok=True)
        now = datetime.datetime.now(datetime.UTC)
        self.key = ec.generate_private_key(ec.SECP256R1())
        self.cert = (
            x509.CertificateBuilder().subject_name(_name("mailops test CA"))
            .issuer_name(_name("mailops test CA")).public_key(self.key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=10))
            .not_valid_after(now + datetime.timedelta(days=365))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True,
                                         crl_sign=True, content_commitment=False,
                                         key_encipherment=False, data_encipherment=False,
                                         key_agreement=False, encipher_only=False,
                                         decipher_only=False), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(self.key.public_key()),
                           critical=False)
            .sign(self.key, hashes.SHA256()))
        self.ca_file = self.dir / "ca.pem"
        self.ca_file.write_bytes(self.cert.public_bytes(serialization.Encoding.PEM))

    def leaf(self, name: str, hosts: list[str], *, days: int = 90) -> tuple[Path, Path]:
        """(cert.pem, key.pem) for `hosts`, valid for `days` from now (negative: expired
        that many days ago)."""
        now = datetime.datetime.now(datetime.UTC)
        start, end = ((now + datetime.timedelta(days=days - 2), now + datetime.timedelta(days=days))
                      if days < 0 else (now - datetime.timedelta(hours=1),
                                        now + datetime.timedelta(days=days)))
        key = ec.generate_private_key(ec.SECP256R1())
        cert = (
            x509.CertificateBuilder().subject_name(_name(hosts[0]))
            .issuer_name(self.cert.subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(start).not_valid_after(end)
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(h) for h in hosts]),
                           critical=False)
            .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]),
                           critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
                self.key.public_key()), critical=False)
            .sign(self.key, hashes.SHA256()))
        cert_file, key_file = self.dir / f"{name}.pem", self.dir / f"{name}.key"
        cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                               serialization.PrivateFormat.PKCS8,
                                               serialization.NoEncryption()))
        return cert_file, key_file


def random_loopback() -> str:
    """A random 127.x.y.z (x >= 64): unlikely to collide with another test's listener."""
    return f"127.{random.randint(64, 250)}.{random.randint(0, 255)}.{random.randint(1, 254)}"


class PolicyServer:
    """Threaded HTTPS server serving MTA-STS policies by Host header."""

    def __init__(self, base: Path, policies: dict[str, str | None],
                 unsigned_hosts: frozenset[str] | set[str] = frozenset()) -> None:
        self.dir = base / "https"
        self.dir.mkdir(parents=True, exist_ok=True)
        self.policies = {h.lower(): text for h, text in policies.items()}
        self.unsigned = {h.lower() for h in unsigned_hosts}
        self.address = random_loopback()
        self.ca_file = self.dir / "ca.pem"
        self.httpd: ThreadingHTTPServer | None = None

    def start(self) -> PolicyServer:
        signed = [h for h in self.policies if h not in self.unsigned] or ["unused.test"]
        ca = LocalCA(self.dir)
        self.ca_file = ca.ca_file
        leaf, key = ca.leaf("policy-host", signed)
        policies = self.policies

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                host = (self.headers.get("Host") or "").split(":")[0].lower()
                body = policies.get(host)
                if self.path != "/.well-known/mta-sts.txt" or body is None:
                    self.send_error(404)
                    return
                data = body.encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: object) -> None:
                return  # quiet test output

        try:
            httpd = ThreadingHTTPServer((self.address, 443), Handler)
        except PermissionError:
            if os.environ.get("CI"):
                pytest.fail("binding port 443 on loopback needs root (CI runs as root)")
            pytest.skip("binding port 443 on loopback needs root")
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(leaf, key)
        httpd.socket = context.wrap_socket(httpd.socket, server_side=True)
        self.httpd = httpd
        threading.Thread(target=httpd.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self.httpd is not None:
            self.httpd.shutdown()
            self.httpd.server_close()
            self.httpd = None
