"""DNSSEC checks against zones Knot signs: a delegation chain from a test trust anchor."""

from __future__ import annotations

import time
from pathlib import Path

import dns.query
import dns.rcode
import dns.tsigkeyring
import dns.update
import pytest
from conftest import Cli, KnotFactory

from mailops.audit import AuditOptions, DomainReport, audit, parse_trust_anchors
from mailops.audit import codes as C

MAIL = ('@ MX 10 mx\nmx A 127.0.0.2\n@ TXT "v=spf1 mx -all"\n'
        '_dmarc TXT "v=DMARC1; p=reject; rua=mailto:d@{d}"\n')
CHILDREN = ("child", "nods", "bad", "plain")


def corrupt(ds_rdata: str) -> str:
    return ds_rdata[:-1] + ("0" if ds_rdata[-1] != "0" else "1")


@pytest.fixture(scope="module")
def chain(knot_module: KnotFactory) -> tuple[str, str]:
    """parent.test (signed, anchored) delegating to: child (DS matches), nods (signed, no
    DS), bad (DS matches no key), plain (unsigned but with a DS: bogus)."""
    zones = {"parent.test": "".join(f"{c} NS ns.parent.test.\n" for c in CHILDREN)}
    zones |= {f"{c}.parent.test": MAIL.format(d=f"{c}.parent.test") for c in CHILDREN}
    signed = {"parent.test", "child.parent.test", "nods.parent.test", "bad.parent.test"}
    srv = knot_module(zones, signed=signed)
    ring = dns.tsigkeyring.from_text({srv.tsig_name: (srv.tsig_algorithm, srv.tsig_secret)})
    update = dns.update.UpdateMessage("parent.test", keyring=ring,
                                      keyalgorithm=srv.tsig_algorithm)
    child_ds = srv.trust_anchor_ds("child.parent.test").split(" IN DS ")[1].strip()
    bad_ds = srv.trust_anchor_ds("bad.parent.test").split(" IN DS ")[1].strip()
    update.add("child", 300, "DS", child_ds)
    update.add("bad", 300, "DS", corrupt(bad_ds))
    update.add("plain", 300, "DS", child_ds)  # a DS for a zone that is not signed
    assert dns.query.tcp(update, srv.host, port=srv.port, timeout=5).rcode() == dns.rcode.NOERROR
    deadline = time.monotonic() + 5
    while not srv.query("plain.parent.test", "DS").answer:
        assert time.monotonic() < deadline, srv.log
        time.sleep(0.02)
    return srv.nameserver, srv.trust_anchor_ds("parent.test")


def run(ns: str, anchor: str, *domains: str) -> dict[str, DomainReport]:
    opts = AuditOptions(nameservers=[ns], trust_anchors=parse_trust_anchors(anchor),
                        probe_selectors=False)
    return {r.domain: r for r in audit(list(domains), opts)}


def dnssec_findings(report: DomainReport) -> list[tuple[str, str, str]]:
    return [(f.code, f.severity.value, f.message) for f in report.findings
            if f.code.startswith("dnssec.") or "DNSSEC" in f.message]


def test_valid_chain_through_a_delegation_has_no_dnssec_finding(chain: tuple[str, str]) -> None:
    reports = run(*chain, "child.parent.test", "parent.test")
    assert dnssec_findings(reports["child.parent.test"]) == []
    assert dnssec_findings(reports["parent.test"]) == []


@pytest.mark.parametrize("domain,code,severity,needle", [
    ("nods.parent.test", C.DNSSEC_UNSIGNED, "info", "no DS at its parent"),
    ("bad.parent.test", C.DNSSEC_BOGUS, "error", "matches its DS at the parent"),
    ("plain.parent.test", C.DNSSEC_BOGUS, "error", "has no DNSKEY"),
])
def test_broken_or_insecure_chains(chain: tuple[str, str], domain: str, code: str,
                                   severity: str, needle: str) -> None:
    found = dnssec_findings(run(*chain, domain)[domain])
    assert len(found) == 1, found
    assert found[0][:2] == (code, severity) and needle in found[0][2]


def test_dnssec_can_be_skipped(chain: tuple[str, str]) -> None:
    opts = AuditOptions(nameservers=[chain[0]], trust_anchors=parse_trust_anchors(chain[1]),
                        probe_selectors=False, dnssec=False)
    assert dnssec_findings(audit(["bad.parent.test"], opts)[0]) == []


def test_without_an_anchor_for_the_zone_the_chain_is_unknown_not_bogus(
        chain: tuple[str, str]) -> None:
    """An authoritative-only server refuses the root's DNSKEY: that is the resolver's
    limit, reported as info, never as a DNSSEC failure of the domain."""
    found = dnssec_findings(run(chain[0], "", "child.parent.test")["child.parent.test"])
    assert [(c, s) for c, s, _ in found] == [(C.DNS_LOOKUP_FAILED, "info")]


def test_cli_trust_anchor_file(cli: Cli, chain: tuple[str, str], tmp_path: Path) -> None:
    ns, anchor = chain
    good = tmp_path / "anchor.txt"
    good.write_text(anchor)
    res = cli("audit", "--no-smtp", "bad.parent.test", "child.parent.test", "--nameserver", ns,
              "--trust-anchor", str(good), "--no-dkim-probe", "--json")
    assert res.code == 1, res.err
    data = {d["domain"]: {f["code"] for f in d["findings"]} for d in res.json()}
    assert C.DNSSEC_BOGUS in data["bad.parent.test"]
    assert C.DNSSEC_BOGUS not in data["child.parent.test"]
    garbage = tmp_path / "garbage.txt"
    garbage.write_text("this is not a DS record\n")
    res = cli("audit", "--no-smtp", "child.parent.test", "--nameserver", ns,
              "--trust-anchor", str(garbage))
    assert res.code == 2 and res.err.startswith("mailops: error: bad --trust-anchor file")
