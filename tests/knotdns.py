"""A real authoritative DNS server for tests: Knot DNS (`knotd`) on a loopback port.

    srv = KnotServer(tmp_path).start({"example.test": ZONE}, signed={"example.test"})
    dns.resolver.Resolver(configure=False).nameservers = [srv.host]; port = srv.port
    ...
    srv.stop()

Zone text: ordinary zone-file text, with owner names relative to the zone (an
`$ORIGIN` line is added for you when the text has none, `$TTL 300` likewise).
The helper adds a SOA (serial 1) and an NS record (`ns.<zone>`, with an A record
127.0.0.1) unless the text has its own SOA / apex NS, so tests only write the
records they care about. Zone names are given without the trailing dot.

Every zone accepts RFC 2136 updates signed with the server's TSIG key
(`tsig_name`, `tsig_secret` base64, `tsig_algorithm` "hmac-sha256"); `tsig=False`
starts the server without the key and without update ACLs. Zones in `signed` are
signed by Knot itself (`dnssec-signing: on`, ECDSA P-256, a single CSK);
`trust_anchor_ds(zone)` gives their DS records in zone-file format, ready to be
written to a `--trust-anchor` file. Updates to a signed zone are re-signed by Knot.

Zones named in `servfail` are configured with a zone file Knot cannot load, so
Knot answers SERVFAIL for every name in them: a real resolver-failure case.

`start()` returns once the server answers a SOA query for every zone (and signed
zones serve their DNSKEY), typically in well under a second.
"""

from __future__ import annotations

import base64
import os
import re
import secrets
import signal
import socket
import subprocess
import time
from collections.abc import Iterable
from pathlib import Path

import dns.dnssec
import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.query
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.rrset

__all__ = ["KnotServer", "free_port"]


def free_port(host: str = "127.0.0.1") -> int:
    """A port free for both UDP and TCP on `host` (the kernel's pick for TCP, checked on UDP)."""
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as tcp:
            tcp.bind((host, 0))
            port = int(tcp.getsockname()[1])
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
                try:
                    udp.bind((host, port))
                except OSError:
                    continue
                return port
    raise RuntimeError("no free port on loopback")


def _zone_text(zone: str, text: str) -> str:
    """The full zone file: $ORIGIN/$TTL, SOA and NS added when the test left them out."""
    origin = zone.rstrip(".") + "."
    lines: list[str] = []
    if not re.search(r"^\$ORIGIN\b", text, re.M):
        lines.append(f"$ORIGIN {origin}")
    if not re.search(r"^\$TTL\b", text, re.M):
        lines.append("$TTL 300")
    if not re.search(r"\bSOA\b", text):
        lines.append(f"@ IN SOA ns.{origin} hostmaster.{origin} 1 3600 600 86400 60")
    if not re.search(r"^(@|" + re.escape(origin) + r")?\s+(\d+\s+)?(IN\s+)?NS\s", text, re.M):
        lines.append(f"@ IN NS ns.{origin}")
        if not re.search(r"^ns\s", text, re.M):
            lines.append("ns IN A 127.0.0.1")
    return "\n".join([*lines, text.strip("\n"), ""])


class KnotServer:
    """One knotd process serving zones from a private directory under `base`."""

    tsig_algorithm = "hmac-sha256"

    def __init__(self, base: Path, host: str = "127.0.0.1") -> None:
        self.dir = Path(base) / f"knot-{secrets.token_hex(3)}"
        self.host = host
        self.port = 0
        self.tsig_name = "mailops-test-key"
        self.tsig_secret = base64.b64encode(secrets.token_bytes(32)).decode()
        self.zones: dict[str, str] = {}
        self.signed: frozenset[str] = frozenset()
        self.broken: frozenset[str] = frozenset()
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def nameserver(self) -> str:
        """`127.0.0.1:PORT`, the form `--nameserver` takes."""
        return f"{self.host}:{self.port}"

    @property
    def log(self) -> str:
        """What knotd wrote (for assertion messages)."""
        path = self.dir / "knotd.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def _config(self, tsig: bool) -> str:
        d = self.dir
        out = [
            "server:",
            f'    rundir: "{d}/run"',
            f"    listen: {self.host}@{self.port}",
            "    udp-workers: 1",
            "    tcp-workers: 1",
            "    background-workers: 1",
            "log:",
            "  - target: stderr",
            "    any: info",
            "database:",
            f'    storage: "{d}/db"',
        ]
        if tsig:
            out += [
                "key:",
                f"  - id: {self.tsig_name}",
                f"    algorithm: {self.tsig_algorithm}",
                f"    secret: {self.tsig_secret}",
                "acl:",
                "  - id: update",
                f"    key: {self.tsig_name}",
                "    action: update",
            ]
        out += [
            "policy:",
            "  - id: test",
            "    algorithm: ecdsap256sha256",
            "    single-type-signing: on",
            "    nsec3: off",
            "    rrsig-lifetime: 14d",
            "    rrsig-refresh: 7d",
            "template:",
            "  - id: default",
            f'    storage: "{d}/zones"',
            '    file: "%s.zone"',
            "    zonefile-sync: -1",
            "    zonefile-load: difference-no-serial",
            "    journal-content: all",
            "    serial-policy: increment",
            "zone:",
        ]
        for zone in [*self.zones, *sorted(self.broken)]:
            out.append(f"  - domain: {zone}.")
            if tsig:
                out.append("    acl: update")
            if zone in self.signed:
                out += ["    dnssec-signing: on", "    dnssec-policy: test"]
        return "\n".join(out) + "\n"

    def start(self, zones: dict[str, str], *, signed: Iterable[str] = frozenset(),
              tsig: bool = True, servfail: Iterable[str] = (),
              timeout: float = 20) -> KnotServer:
        """Write the config and zone files, start knotd and wait until every zone answers."""
        self.zones = {z.rstrip(".").lower(): text for z, text in zones.items()}
        broken = {z.rstrip(".").lower() for z in servfail} - set(self.zones)
        self.signed = frozenset(z.rstrip(".").lower() for z in signed)
        unknown = self.signed - set(self.zones)
        if unknown:
            raise ValueError(f"signed zones not served: {sorted(unknown)}")
        for sub in ("run", "db", "zones"):
            (self.dir / sub).mkdir(parents=True, exist_ok=True)
        for zone, text in self.zones.items():
            (self.dir / "zones" / f"{zone}.zone").write_text(_zone_text(zone, text))
        for zone in broken:  # unloadable on purpose: Knot answers SERVFAIL for it
            (self.dir / "zones" / f"{zone}.zone").write_text("@ IN SOA broken broken\n")
        self.broken = frozenset(broken)
        last_error = ""
        for _attempt in range(3):  # a port taken between free_port() and bind: retry
            self.port = free_port(self.host)
            conf = self.dir / "knot.conf"
            conf.write_text(self._config(tsig))
            with open(self.dir / "knotd.log", "wb") as log:
                self.proc = subprocess.Popen(
                    ["knotd", "-c", str(conf)], stdout=log, stderr=subprocess.STDOUT,
                    start_new_session=True)
            try:
                self._wait_ready(timeout)
                return self
            except RuntimeError as exc:
                last_error = str(exc)
                self.stop()
                if "Address already in use" not in self.log:
                    break
        raise RuntimeError(f"knotd did not start: {last_error}\n{self.log}")

    def _wait_ready(self, timeout: float) -> None:
        pending = set(self.zones)
        deadline = time.monotonic() + timeout
        while pending:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise RuntimeError(f"knotd exited with {self.proc.returncode}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"zones not served after {timeout}s: {sorted(pending)}")
            for zone in sorted(pending):
                rdtype = dns.rdatatype.DNSKEY if zone in self.signed else dns.rdatatype.SOA
                try:
                    reply = self.query(zone, rdtype, timeout=0.5)
                except (OSError, dns.exception.Timeout):
                    continue
                if reply.rcode() == dns.rcode.NOERROR and reply.answer:
                    pending.discard(zone)
            if pending:
                time.sleep(0.02)

    def query(self, name: str, rdtype: dns.rdatatype.RdataType | str,
              timeout: float = 2.0, dnssec: bool = False) -> dns.message.Message:
        """One UDP query straight to this server (TCP when the answer is truncated)."""
        msg = dns.message.make_query(name, rdtype, want_dnssec=dnssec)
        reply = dns.query.udp(msg, self.host, port=self.port, timeout=timeout)
        if reply.flags & dns.flags.TC:
            reply = dns.query.tcp(msg, self.host, port=self.port, timeout=timeout)
        return reply

    def trust_anchor_ds(self, zone: str) -> str:
        """DS records (SHA-256) of a signed zone's KSK/CSK, in zone-file format."""
        zone = zone.rstrip(".").lower()
        if zone not in self.signed:
            raise ValueError(f"{zone} is not signed")
        reply = self.query(zone, dns.rdatatype.DNSKEY)
        origin = dns.name.from_text(zone)
        lines = []
        for rrset in reply.answer:
            if rrset.rdtype != dns.rdatatype.DNSKEY:
                continue
            for key in rrset:
                if key.flags & 0x0001:  # SEP bit: the key a parent's DS points at
                    ds = dns.dnssec.make_ds(origin, key, "SHA256")
                    lines.append(f"{origin.to_text()} 3600 IN DS {ds.to_text()}")
        if not lines:
            raise RuntimeError(f"{zone}: no DNSKEY with the SEP flag")
        return "\n".join(lines) + "\n"

    def stop(self) -> None:
        """Stop knotd (SIGTERM, then SIGKILL) if it runs."""
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=5)

    def __enter__(self) -> KnotServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
