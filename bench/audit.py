"""Domain-audit benchmark: `mailops audit` vs checkdmarc on 1,000 domains behind 50 ms.

One Knot DNS (`knotd`, started here with a temporary config, stopped at the end)
serves 1,000 generated zones: correctly configured domains (their own MX host or a
shared provider's), null-MX non-mail domains, and domains with one planted problem
each from the issue's catalogue (PLANTED below; bench/audit_compare.py checks the
findings). A delaying forwarder (bench/dnsdelay.py, a subprocess) sits in front of
Knot and adds `--delay-ms` (default 50) to every query, standing in for a distant
resolver. Both tools ask only that forwarder, one after the other in the same run:

    mailops audit -f domains.txt --no-smtp --nameserver FWD --json
    checkdmarc domains.txt -f json -o out.json -n FWD-IP        (no --check-mx-tls)

checkdmarc is not a project dependency; install it into a throwaway venv and pass
its path (its CLI only speaks to port 53, so the forwarder listens on
127.53.x.y:53 when the benchmark may bind there, i.e. as root):

    uv venv /tmp/checkdmarc-venv && uv pip install --python /tmp/checkdmarc-venv checkdmarc
    uv run python bench/audit.py --checkdmarc /tmp/checkdmarc-venv/bin/checkdmarc

checkdmarc checks domains one after another (~1-2 s each here), so by default it
runs on a deterministic sample (every 10th domain; `--baseline-sample 1` for all)
and its time is extrapolated per domain to the full list, which the output says.
Without `--checkdmarc` only mailops is timed.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import random
import resource
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric import ed25519

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "bench"))

from _harness import machine, temp_dir  # noqa: E402
from knotdns import KnotServer  # noqa: E402

TLD = "test"
PROVIDER = f"provider.{TLD}"
REPORTS = f"reports.{TLD}"  # an external report destination that authorises nobody
REVERSE = "127.in-addr.arpa"


# ---------------------------------------------------------------------------- keys

@dataclass(frozen=True)
class Keys:
    """Base64 public keys (SubjectPublicKeyInfo DER for RSA, raw for Ed25519)."""

    rsa512: str
    rsa1024: str
    rsa2048: str
    ed25519: str


def _openssl_rsa(bits: int) -> str:
    """An RSA public key of `bits` (openssl: `cryptography` refuses to make 512-bit keys)."""
    key = subprocess.run(["openssl", "genpkey", "-algorithm", "RSA", "-pkeyopt",
                          f"rsa_keygen_bits:{bits}"], capture_output=True, check=True).stdout
    der = subprocess.run(["openssl", "pkey", "-pubout", "-outform", "DER"], input=key,
                         capture_output=True, check=True).stdout
    return base64.b64encode(der).decode()


def make_keys() -> Keys:
    """One key of each kind, shared by every zone (a real run would have one per domain)."""
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    raw = ed25519.Ed25519PrivateKey.generate().public_key().public_bytes(
        Encoding.Raw, PublicFormat.Raw)
    return Keys(_openssl_rsa(512), _openssl_rsa(1024), _openssl_rsa(2048),
                base64.b64encode(raw).decode())


# ---------------------------------------------------------------------------- zones

def txt(owner: str, text: str, rdtype: str = "TXT") -> str:
    """A TXT (or SPF) record line, split into <=255-byte strings."""
    chunks = [text[i:i + 255] for i in range(0, len(text), 255)] or [""]
    return f"{owner} {rdtype} " + " ".join(f'"{c}"' for c in chunks)


@dataclass
class Domain:
    """One generated domain: its zone's records by area, its PTRs and what it tests."""

    name: str
    kind: str  # "correct", "null_mx" or "planted"
    problem: str = ""  # the PLANTED key
    records: dict[str, list[str]] = field(default_factory=dict)
    ptrs: list[tuple[str, str]] = field(default_factory=list)  # (address, host)
    servfail: bool = False

    def zone_text(self) -> str:
        return "\n".join(line for lines in self.records.values() for line in lines) + "\n"


def correct_records(d: Domain, address: str, keys: Keys, provider: bool) -> None:
    """A correctly configured mail domain: MX with PTR/FCrDNS, SPF -all, DMARC reject
    with reports, a 2048-bit RSA or Ed25519 DKIM key at a common selector, TLS-RPT."""
    n = d.name
    if provider:
        d.records["mx"] = [f"@ MX 10 mx1.{PROVIDER}.", f"@ MX 20 mx2.{PROVIDER}."]
        d.records["spf"] = [txt("@", f"v=spf1 include:_spf.{PROVIDER} -all")]
        d.records["dmarc"] = [txt("_dmarc", f"v=DMARC1; p=quarantine; "
                                            f"rua=mailto:dmarc@{PROVIDER}")]
        d.records["dkim"] = [txt("selector1._domainkey",
                                 f"v=DKIM1; k=ed25519; p={keys.ed25519}")]
    else:
        d.records["mx"] = ["@ MX 10 mail", f"mail A {address}"]
        d.ptrs.append((address, f"mail.{n}"))
        d.records["spf"] = [txt("@", "v=spf1 mx -all")]
        d.records["dmarc"] = [txt("_dmarc", f"v=DMARC1; p=reject; rua=mailto:dmarc@{n}")]
        d.records["dkim"] = [txt("default._domainkey", f"v=DKIM1; k=rsa; p={keys.rsa2048}")]
    d.records["tlsrpt"] = [txt("_smtp._tls", f"v=TLSRPTv1; rua=mailto:tls@{n}")]


def null_mx_records(d: Domain, with_rua: bool) -> None:
    """A non-mail domain done right: null MX, SPF -all, DMARC reject."""
    d.records["mx"] = ["@ MX 0 ."]
    d.records["spf"] = [txt("@", "v=spf1 -all")]
    rua = f"; rua=mailto:dmarc@{PROVIDER}" if with_rua else ""
    d.records["dmarc"] = [txt("_dmarc", f"v=DMARC1; p=reject{rua}")]


Plant = Callable[[Domain, Keys], None]


def set_records(area: str, *lines: str) -> Plant:
    """Replace an area's records (`{name}` in a line becomes the domain)."""
    def plant(d: Domain, _keys: Keys) -> None:
        d.records[area] = [line.format(name=d.name) for line in lines]
    return plant


def add_records(area: str, *lines: str, at: int | None = None) -> Plant:
    """Add records to an area (at position `at`, or at the end)."""
    def plant(d: Domain, _keys: Keys) -> None:
        records = d.records.setdefault(area, [])
        new = [line.format(name=d.name) for line in lines]
        pos = len(records) if at is None else at
        records[pos:pos] = new
    return plant


def both(*plants: Plant) -> Plant:
    """Several changes to one domain."""
    def plant(d: Domain, keys: Keys) -> None:
        for p in plants:
            p(d, keys)
    return plant


def _dkim(record: Callable[[Keys], str]) -> Plant:
    def plant(d: Domain, keys: Keys) -> None:
        d.records["dkim"] = [txt("default._domainkey", record(keys))]
    return plant


def _ptr_mismatch(d: Domain, _keys: Keys) -> None:
    d.ptrs = [(a, f"elsewhere.{PROVIDER}") for a, _h in d.ptrs]  # no A record there


def _ptr_missing(d: Domain, _keys: Keys) -> None:
    d.ptrs = []


def _mx_cname(d: Domain, _keys: Keys) -> None:
    d.records["mx"] = ["@ MX 10 mail", "mail CNAME real", *d.records["mx"][1:]]
    d.records["mx"][2] = d.records["mx"][2].replace("mail A", "real A")
    d.ptrs = [(a, f"real.{d.name}") for a, _h in d.ptrs]


def _servfail(d: Domain, _keys: Keys) -> None:
    d.servfail = True


_TOO_LONG = "v=spf1 " + " ".join(f"ip4:192.0.2.{i}" for i in range(1, 50)) + " mx -all"
_ELEVEN = "v=spf1 " + " ".join(f"include:l{i}.{PROVIDER}" for i in range(1, 12)) + " -all"

# problem -> (mailops codes expected, how to plant it). Each planted domain starts as a
# correct own-MX domain (correct_records) and gets exactly one change.
PLANTED: dict[str, tuple[tuple[str, ...], Plant]] = {
    "spf_missing": (("spf.missing",), set_records("spf")),
    "spf_multiple": (("spf.multiple_records",),
                     set_records("spf", txt("@", "v=spf1 mx -all"), txt("@", "v=spf1 a -all"))),
    "spf_syntax": (("spf.syntax",), set_records("spf", txt("@", "v=spf1 mx foo:bar -all"))),
    "spf_bad_ip": (("spf.syntax",), set_records("spf", txt("@", "v=spf1 ip4:192.0.2.300 mx -all"))),
    "spf_plus_all": (("spf.plus_all",), set_records("spf", txt("@", "v=spf1 mx +all"))),
    "spf_neutral_all": (("spf.plus_all",), set_records("spf", txt("@", "v=spf1 mx ?all"))),
    "spf_softfail_p_none": (("spf.softfail_all", "dmarc.policy_none"), both(
        set_records("spf", txt("@", "v=spf1 mx ~all")),
        set_records("dmarc", txt("_dmarc", "v=DMARC1; p=none; rua=mailto:dmarc@{name}")))),
    "spf_ptr": (("spf.ptr_mechanism",), set_records("spf", txt("@", "v=spf1 ptr mx -all"))),
    "spf_lookup_limit": (("spf.lookup_limit",), set_records("spf", txt("@", _ELEVEN))),
    "spf_void_lookups": (("spf.void_lookups",), set_records("spf", txt(
        "@", "v=spf1 a:nx1.{name} a:nx2.{name} a:nx3.{name} mx -all"))),
    "spf_loop": (("spf.loop",), set_records(
        "spf", txt("@", f"v=spf1 include:loopa.{PROVIDER} -all"))),
    "spf_include_missing": (("spf.include_missing",), set_records(
        "spf", txt("@", f"v=spf1 mx include:nospf.{PROVIDER} -all"))),
    "spf_redirect_missing": (("spf.include_missing",), set_records(
        "spf", txt("@", f"v=spf1 redirect=nospf.{PROVIDER}"))),
    "spf_no_all": (("spf.no_all",), set_records("spf", txt("@", "v=spf1 mx"))),
    "spf_too_long": (("spf.too_long",), set_records("spf", txt("@", _TOO_LONG))),
    "spf_rr_type": (("spf.rr_type",), set_records("spf", txt("@", "v=spf1 mx -all"),
                                           txt("@", "v=spf1 mx -all", "SPF"))),
    "dmarc_missing": (("dmarc.missing",), set_records("dmarc")),
    "dmarc_multiple": (("dmarc.multiple_records",), set_records(
        "dmarc", txt("_dmarc", "v=DMARC1; p=reject"), txt("_dmarc", "v=DMARC1; p=none"))),
    "dmarc_bad_policy": (("dmarc.syntax",), set_records(
        "dmarc", txt("_dmarc", "v=DMARC1; p=bogus"))),
    "dmarc_no_p": (("dmarc.syntax",), set_records("dmarc", txt(
        "_dmarc", "v=DMARC1; rua=mailto:dmarc@{name}"))),
    "dmarc_unknown_tag": (("dmarc.syntax",), set_records(
        "dmarc", txt("_dmarc", "v=DMARC1; p=reject; foo=bar"))),
    "dmarc_policy_none": (("dmarc.policy_none",), set_records("dmarc", txt(
        "_dmarc", "v=DMARC1; p=none; rua=mailto:dmarc@{name}"))),
    "dmarc_pct": (("dmarc.pct_partial",), set_records("dmarc", txt(
        "_dmarc", "v=DMARC1; p=reject; pct=50; rua=mailto:dmarc@{name}"))),
    "dmarc_sp_none": (("dmarc.subdomain_policy_none",), set_records("dmarc", txt(
        "_dmarc", "v=DMARC1; p=reject; sp=none; rua=mailto:dmarc@{name}"))),
    "dmarc_rua_unauthorized": (("dmarc.external_rua_unauthorized",), set_records("dmarc", txt(
        "_dmarc", f"v=DMARC1; p=reject; rua=mailto:dmarc@{REPORTS}"))),
    "dmarc_rua_no_mx": (("dmarc.rua_no_mx",), set_records("dmarc", txt(
        "_dmarc", "v=DMARC1; p=reject; rua=mailto:dmarc@nomail.{name}"))),
    "mx_implicit": (("mx.missing_implicit",), both(set_records("mx", "@ A 127.99.0.1"),
                                                   _ptr_missing)),
    "mx_missing": (("mx.missing",), both(set_records("mx"), _ptr_missing)),
    "mx_cname": (("mx.cname_target",), _mx_cname),
    "mx_no_address": (("mx.no_address",), both(set_records("mx", "@ MX 10 mail"), _ptr_missing)),
    "mx_duplicate": (("mx.duplicate",), add_records("mx", "@ MX 20 mail", at=1)),
    "mx_null_mixed": (("mx.null_mx_mixed",), add_records("mx", "@ MX 0 .", at=1)),
    "ptr_mismatch": (("ptr.fcrdns_mismatch",), _ptr_mismatch),
    "ptr_missing": (("ptr.missing",), _ptr_missing),
    "dkim_too_short": (("dkim.key_too_short",), _dkim(lambda k: f"v=DKIM1; p={k.rsa512}")),
    "dkim_weak": (("dkim.weak_key",), _dkim(lambda k: f"v=DKIM1; p={k.rsa1024}")),
    "dkim_testing": (("dkim.testing_mode",), _dkim(lambda k: f"v=DKIM1; t=y; p={k.rsa2048}")),
    "dkim_revoked": (("dkim.revoked",), _dkim(lambda k: "v=DKIM1; k=rsa; p=")),
    "dkim_syntax": (("dkim.syntax",), _dkim(lambda k: "v=DKIM1; p=not!base64")),
    "dkim_sha1": (("dkim.sha1_only",), _dkim(lambda k: f"v=DKIM1; h=sha1; p={k.rsa2048}")),
    "tlsrpt_syntax": (("tlsrpt.syntax",), set_records("tlsrpt", txt(
        "_smtp._tls", "v=TLSRPTv1; rua=ftp://reports.example"))),
    "mta_sts_syntax": (("mta_sts.syntax",), set_records("extra", txt(
        "_mta-sts", "v=STSv1; id=not-valid!"))),
    "bimi_syntax": (("bimi.syntax",), set_records("extra", txt(
        "default._bimi", "v=BIMI1; l=http://127.0.0.1:9/logo.svg"))),
    "servfail": (("dns.lookup_failed",), _servfail),
}


def shared_zones(domains: list[Domain]) -> dict[str, str]:
    """The provider (shared MX hosts, SPF includes, report authorisation), the unauthorised
    report destination and the reverse zone with every PTR."""
    provider = [
        "@ MX 10 mx1", "mx1 A 127.20.0.1", "mx2 A 127.20.0.2",
        txt("@", f"v=spf1 include:_spf.{PROVIDER} -all"),
        txt("_spf", "v=spf1 ip4:127.20.0.0/24 -all"),
        txt("_dmarc", "v=DMARC1; p=reject"),
        txt("*._report._dmarc", "v=DMARC1"),  # accepts every domain's reports
        txt("nospf", "not an spf record"),
        txt("loopa", f"v=spf1 include:loopb.{PROVIDER} -all"),
        txt("loopb", f"v=spf1 include:loopa.{PROVIDER} -all"),
        *(txt(f"l{i}", f"v=spf1 ip4:127.21.0.{i} -all") for i in range(1, 12)),
    ]
    reports = [f"@ MX 10 mx1.{PROVIDER}.", txt("@", f"v=spf1 include:_spf.{PROVIDER} -all"),
               txt("_dmarc", "v=DMARC1; p=reject")]
    ptrs = {"127.20.0.1": f"mx1.{PROVIDER}", "127.20.0.2": f"mx2.{PROVIDER}"}
    for d in domains:
        ptrs.update(dict(d.ptrs))
    reverse = [f"{'.'.join(reversed(a.split('.')[1:]))} PTR {h}." for a, h in ptrs.items()]
    return {PROVIDER: "\n".join(provider) + "\n", REPORTS: "\n".join(reports) + "\n",
            REVERSE: "\n".join(reverse) + "\n"}


def generate(count: int, keys: Keys, seed: int = 1, *,
             planted_share: float = 0.3, null_share: float = 0.1) -> list[Domain]:
    """`count` domains, deterministic for a seed: ~30% planted (cycling through PLANTED),
    ~10% null MX, the rest correct (a third of them on the shared provider)."""
    rng = random.Random(seed)
    problems = list(PLANTED)
    out: list[Domain] = []
    for i in range(count):
        address = f"127.30.{i // 250}.{i % 250 + 1}"
        roll = rng.random()
        if roll < planted_share:
            problem = problems[sum(d.kind == "planted" for d in out) % len(problems)]
            d = Domain(f"p-{problem.replace('_', '-')}-{i:04d}.{TLD}", "planted", problem)
            correct_records(d, address, keys, provider=False)
            PLANTED[problem][1](d, keys)
        elif roll < planted_share + null_share:
            d = Domain(f"null-{i:04d}.{TLD}", "null_mx")
            null_mx_records(d, with_rua=rng.random() < 0.5)
        else:
            d = Domain(f"ok-{i:04d}.{TLD}", "correct")
            correct_records(d, address, keys, provider=rng.random() < 1 / 3)
        out.append(d)
    return out


def one_of_each(keys: Keys) -> list[Domain]:
    """Every planted problem once, plus each correct and null-MX variant (for compare)."""
    out: list[Domain] = []
    for i, problem in enumerate(PLANTED):
        d = Domain(f"p-{problem.replace('_', '-')}.{TLD}", "planted", problem)
        correct_records(d, f"127.31.0.{i + 1}", keys, provider=False)
        PLANTED[problem][1](d, keys)
        out.append(d)
    for i, provider in enumerate((False, True)):
        d = Domain(f"ok-{'provider' if provider else 'own'}.{TLD}", "correct")
        correct_records(d, f"127.31.1.{i + 1}", keys, provider=provider)
        out.append(d)
    for with_rua in (False, True):
        d = Domain(f"null-{'rua' if with_rua else 'plain'}.{TLD}", "null_mx")
        null_mx_records(d, with_rua)
        out.append(d)
    return out


# ---------------------------------------------------------------------------- servers

@contextmanager
def knot(base: Path, domains: list[Domain]) -> Iterator[KnotServer]:
    """knotd serving every domain (SERVFAIL ones broken on purpose); always stopped."""
    zones = {d.name: d.zone_text() for d in domains if not d.servfail}
    zones.update(shared_zones(domains))
    srv = KnotServer(base)
    try:
        srv.start(zones, tsig=False, servfail=[d.name for d in domains if d.servfail],
                  timeout=120)
        yield srv
    finally:
        srv.stop()


@dataclass
class Fwd:
    """The forwarder subprocess: where it listens."""

    proc: subprocess.Popen[str]
    host: str
    port: int

    @property
    def nameserver(self) -> str:
        return f"{self.host}:{self.port}"

    def counts(self) -> dict[str, int]:
        """udp, tcp and timeouts so far (the forwarder prints them on SIGUSR1)."""
        assert self.proc.stdout is not None
        self.proc.send_signal(signal.SIGUSR1)
        return {k: int(v) for k, v in (kv.split("=") for kv in
                                       self.proc.stdout.readline().split())}

    def queries(self) -> int:
        """Queries relayed so far."""
        counts = self.counts()
        return counts["udp"] + counts["tcp"]


@contextmanager
def forwarder(upstream: str, delay_ms: float, log: Path | None = None) -> Iterator[Fwd]:
    """bench/dnsdelay.py on 127.53.x.y:53 when we may bind there (checkdmarc's CLI only
    speaks to port 53), else on 127.0.0.1 with a free port; always stopped."""
    rng = random.Random()
    candidates = [f"127.53.{rng.randrange(1, 255)}.{rng.randrange(1, 255)}:53"] \
        if os.geteuid() == 0 else []
    for listen in [*candidates, "127.0.0.1:0"]:
        proc = subprocess.Popen(
            [sys.executable, str(ROOT / "bench" / "dnsdelay.py"), "--listen", listen,
             "--upstream", upstream, "--delay-ms", str(delay_ms),
             *(["--log", str(log)] if log else [])],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        assert proc.stdout is not None
        line = proc.stdout.readline().split()
        if line and line[0] == "ready":
            host, _, port = line[1].rpartition(":")
            fwd = Fwd(proc, host, int(port))
            try:
                yield fwd
            finally:
                proc.send_signal(signal.SIGTERM)
                proc.wait(timeout=10)
            return
        proc.wait(timeout=10)
    raise RuntimeError("the forwarder did not start")


# ---------------------------------------------------------------------------- runs

def _children_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


@dataclass
class Run:
    """One timed run of a tool: wall and CPU seconds, its JSON output."""

    wall: float
    cpu: float
    reports: list[dict[str, object]]


def proc_cpu(pid: int) -> float:
    """CPU seconds (user + system) a running process has used, from /proc/PID/stat."""
    with open(f"/proc/{pid}/stat") as fh:
        fields = fh.read().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def tool_env(tmp: Path, **extra: str) -> dict[str, str]:
    """The environment for both tools: bytecode cached in `tmp` (this machine sets
    PYTHONDONTWRITEBYTECODE, which would make every start recompile every module:
    ~1 s that an installed tool does not pay), plus `extra`."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPYCACHEPREFIX"] = str(tmp / "pycache")
    env.update(extra)
    return env


def run_mailops(domain_file: Path, nameserver: str, tmp: Path,
                extra: list[str] | None = None) -> Run:
    """`mailops audit -f FILE --no-smtp --nameserver NS --json`, timed."""
    cmd = [sys.executable, "-m", "mailops.commands", "audit", "-f", str(domain_file),
           "--no-smtp", "--nameserver", nameserver, "--json", *(extra or [])]
    env = tool_env(tmp, MAILOPS_HOME=str(tmp / "home"))
    cpu, start = _children_cpu(), time.monotonic()
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=ROOT, timeout=900)
    elapsed = time.monotonic() - start
    if out.returncode not in (0, 1):
        raise RuntimeError(f"mailops audit exited {out.returncode}: {out.stderr.strip()}")
    return Run(elapsed, _children_cpu() - cpu, json.loads(out.stdout))


def run_checkdmarc(exe: str, domain_file: Path, fwd: Fwd,
                   tmp: Path) -> Run:
    """checkdmarc on the same file through the same forwarder (no --check-mx-tls)."""
    if fwd.port != 53:
        raise RuntimeError("checkdmarc's CLI only queries port 53: run the benchmark as root")
    # Anything it would fetch over HTTPS goes to a closed loopback port, never out.
    env = tool_env(tmp, HTTPS_PROXY="http://127.0.0.1:9", HTTP_PROXY="http://127.0.0.1:9",
                   NO_PROXY="")
    out_json = tmp / f"checkdmarc-{domain_file.stem}.json"
    out_json.unlink(missing_ok=True)
    # the domain file first: -n and -o take one or more values each
    cmd = [exe, str(domain_file), "-f", "json", "-o", str(out_json), "-n", fwd.host]
    cpu, start = _children_cpu(), time.monotonic()
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=7200)
    elapsed = time.monotonic() - start
    if out.returncode != 0 or not out_json.exists():
        raise RuntimeError(f"checkdmarc exited {out.returncode}: {out.stderr.strip()[-500:]}")
    data = json.loads(out_json.read_text())
    return Run(elapsed, _children_cpu() - cpu, data if isinstance(data, list) else [data])


def sanity(domains: list[Domain], reports: list[dict[str, object]]) -> list[str]:
    """Planted problems mailops did not report, and warnings/errors on good domains."""
    by_name = {str(r["domain"]): r for r in reports}
    problems: list[str] = []
    for d in domains:
        findings = by_name.get(d.name, {}).get("findings", [])
        assert isinstance(findings, list)
        seen = {f["code"] for f in findings}
        bad = sorted(f["code"] for f in findings if f["severity"] in ("warning", "error"))
        if d.kind == "planted":
            missing = [c for c in PLANTED[d.problem][0] if c not in seen]
            if missing:
                problems.append(f"{d.name}: expected {missing}, got {sorted(seen)}")
        elif bad:
            problems.append(f"{d.name} ({d.kind}): {bad}")
    return problems


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--domains", type=int, default=1000)
    ap.add_argument("--delay-ms", type=float, default=50.0)
    ap.add_argument("--checkdmarc", metavar="PATH", help="checkdmarc executable (own venv)")
    ap.add_argument("--baseline-sample", type=int, default=10, metavar="N",
                    help="run checkdmarc on every Nth domain and extrapolate (1: all)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--mailops-arg", action="append", default=[],
                    help="extra argument for mailops audit (repeatable)")
    args = ap.parse_args()
    print(f"machine: {machine()}")
    print(f"load average: {os.getloadavg()[0]:.2f}")
    with temp_dir("mailops-bench-audit-") as tmp:
        t0 = time.monotonic()
        keys = make_keys()
        domains = generate(args.domains, keys, args.seed)
        kinds = Counter(d.kind for d in domains)
        print(f"domains: {len(domains)} ({kinds['correct']} correct, {kinds['null_mx']} null "
              f"MX, {kinds['planted']} with one of {len(PLANTED)} planted problems)")
        domain_file = tmp / "domains.txt"
        domain_file.write_text("".join(f"{d.name}\n" for d in domains))
        sample = domains[::args.baseline_sample]
        sample_file = tmp / "sample.txt"
        sample_file.write_text("".join(f"{d.name}\n" for d in sample))
        with knot(tmp, domains) as srv, forwarder(srv.nameserver, args.delay_ms) as fwd:
            print(f"knotd on {srv.nameserver} ({len(domains) + 3} zones, ready in "
                  f"{time.monotonic() - t0:.1f}s); forwarder on {fwd.nameserver}, "
                  f"+{args.delay_ms:g} ms per query")
            warm = tmp / "warm.txt"  # untimed: both tools' bytecode gets compiled and cached
            warm.write_text(f"{domains[0].name}\n")
            run_mailops(warm, fwd.nameserver, tmp)
            if args.checkdmarc:
                run_checkdmarc(args.checkdmarc, warm, fwd, tmp)
            assert srv.proc is not None
            peers = (fwd.proc.pid, srv.proc.pid)
            before, peer_cpu = fwd.queries(), [proc_cpu(p) for p in peers]
            m = run_mailops(domain_file, fwd.nameserver, tmp, args.mailops_arg)
            m_time, reports = m.wall, m.reports
            m_queries = fwd.queries() - before
            peer_cpu = [proc_cpu(p) - c for p, c in zip(peers, peer_cpu, strict=True)]
            print(f"mailops audit: {m_time:.1f} s for {len(reports)} domains "
                  f"({m_time / len(reports) * 1000:.1f} ms/domain, {m_queries} DNS queries, "
                  f"{m.cpu:.1f} s CPU, load average now {os.getloadavg()[0]:.2f}); meanwhile "
                  f"the forwarder used {peer_cpu[0]:.1f} s CPU, knotd {peer_cpu[1]:.1f} s")
            issues = sanity(domains, reports)
            print(f"mailops findings check: {len(issues)} problem(s)")
            for line in issues[:20]:
                print(f"  {line}")
            if not args.checkdmarc:
                print("checkdmarc: not run (give --checkdmarc PATH)")
                return
            before = fwd.queries()
            c = run_checkdmarc(args.checkdmarc, sample_file, fwd, tmp)
            c_time, c_reports = c.wall, c.reports
            c_queries = fwd.queries() - before
            per = c_time / len(sample)
            full = per * len(domains)
            label = ("" if len(sample) == len(domains) else
                     f" (sample of {len(sample)}: every {args.baseline_sample}th domain; "
                     f"extrapolated to {len(domains)})")
            print(f"checkdmarc: {c_time:.1f} s for {len(c_reports)} domains, {per * 1000:.0f} "
                  f"ms/domain, {c_queries} DNS queries, {c.cpu:.1f} s CPU -> {full:.0f} s for "
                  f"{len(domains)}{label}")
            print(f"ratio checkdmarc/mailops: {full / m_time:.1f}x")
            print(f"forwarder: {fwd.counts()}")
            print(f"targets: mailops < 30 s: {'yes' if m_time < 30 else 'NO'}; >= 20x "
                  f"checkdmarc: {'yes' if full / m_time >= 20 else 'NO'}")


if __name__ == "__main__":
    main()
