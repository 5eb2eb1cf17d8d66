"""`mailops dns records` and `mailops mta-sts policy`: the output is a zone dnspython
loads, the records say what was asked, and the policy file follows RFC 8461."""

from __future__ import annotations

import re
from pathlib import Path

import dns.name
import dns.rdatatype
import dns.zone
from conftest import Cli


def _zone(text: str, origin: str = "example.test") -> dns.zone.Zone:
    return dns.zone.from_text(text, origin=origin, relativize=False, check_origin=False)


def _txt(zone: dns.zone.Zone, name: str) -> list[str]:
    rdataset = zone.get_rdataset(dns.name.from_text(name), dns.rdatatype.TXT)
    assert rdataset is not None, name
    return [b"".join(r.strings).decode() for r in rdataset]


def _policy_fields(text: str) -> list[tuple[str, str]]:
    """Parse an MTA-STS policy by RFC 8461 3.2's grammar: `key: value` lines."""
    assert text.endswith("\n")
    fields = []
    for line in text.rstrip("\n").split("\n"):
        m = re.fullmatch(r"([A-Za-z0-9_]+):[ \t]*([\x21-\x7e]+)[ \t]*", line.rstrip("\r"))
        assert m, line
        fields.append((m.group(1), m.group(2)))
    return fields


def test_records_form_a_zone_with_every_record_asked_for(cli: Cli) -> None:
    key = cli.ok("dkim", "keygen", "--domain", "example.test", "--selector", "s1",
                 "--json").json()
    args = ["dns", "records", "example.test", "--mx", "mx1.example.test",
            "--mx", "mx2.example.test", "--spf-include", "_spf.mailhost.test",
            "--ip", "192.0.2.25", "--ip", "2001:db8::/48", "--dmarc-policy", "quarantine",
            "--rua", "mailto:dmarc@example.test", "--rua", "mailto:agg@reports.example.net",
            "--mta-sts-mode", "enforce", "--tlsrpt-rua", "mailto:tls@example.test",
            "--ttl", "600"]
    text = cli.ok(*args).out
    zone = _zone(text)

    mx = zone.get_rdataset("example.test.", "MX")
    assert mx is not None and mx.ttl == 600
    assert sorted((r.preference, r.exchange.to_text()) for r in mx) == [
        (10, "mx1.example.test."), (20, "mx2.example.test.")]
    assert _txt(zone, "example.test.") == [
        "v=spf1 mx ip4:192.0.2.25 ip6:2001:db8::/48 include:_spf.mailhost.test -all"]
    # The active selector's key, split into strings of at most 255 bytes.
    dkim = zone.get_rdataset("s1._domainkey.example.test.", "TXT")
    assert dkim is not None
    [rdata] = list(dkim)
    assert len(rdata.strings) == 2 and max(len(s) for s in rdata.strings) <= 255
    assert _txt(zone, "s1._domainkey.example.test.") == [key["txt"]]
    assert _txt(zone, "_dmarc.example.test.") == [
        "v=DMARC1; p=quarantine; rua=mailto:dmarc@example.test,mailto:agg@reports.example.net"]
    assert _txt(zone, "_smtp._tls.example.test.") == ["v=TLSRPTv1; rua=mailto:tls@example.test"]
    # The external report destination must authorise the domain (RFC 7489 7.1).
    assert ("; reports.example.net must publish example.test._report._dmarc.reports."
            "example.net. TXT") in text

    # _mta-sts's id is the one `mta-sts policy` prints for the same policy.
    data = cli.ok(*args, "--json").json()
    assert data["domain"] == "example.test"
    assert {r["purpose"] for r in data["records"]} == {"mx", "spf", "dkim", "dmarc", "mta-sts",
                                                       "tls-rpt"}
    policy = cli.ok("mta-sts", "policy", "--mx", "mx1.example.test", "--mx",
                    "mx2.example.test", "--mode", "enforce")
    assert data["mta_sts_policy"] == policy.out
    [sts] = _txt(zone, "_mta-sts.example.test.")
    assert sts.startswith("v=STSv1; id=") and sts.split("id=")[1] in policy.err
    dmarc = next(r for r in data["records"] if r["purpose"] == "dmarc")
    assert dmarc["name"] == "_dmarc.example.test." and dmarc["type"] == "TXT"
    assert dmarc["values"] == [_txt(zone, "_dmarc.example.test.")[0]]


def test_null_mx_domain(cli: Cli) -> None:
    zone = _zone(cli.ok("dns", "records", "parked.test", "--null-mx").out, "parked.test")
    [mx] = list(zone.get_rdataset("parked.test.", "MX") or [])
    assert mx.preference == 0 and mx.exchange == dns.name.root
    assert _txt(zone, "parked.test.") == ["v=spf1 -all"]
    assert _txt(zone, "_dmarc.parked.test.") == ["v=DMARC1; p=reject"]


def test_records_reject_bad_input(cli: Cli) -> None:
    for args in (["--ip", "300.1.1.1"], ["--rua", "dmarc@example.test"],
                 ["--dmarc-policy", "maybe"], ["--null-mx", "--mx", "mx.example.test"],
                 ["--dkim-selector", "nokey"]):
        res = cli("dns", "records", "example.test", *args)
        assert res.code in (2, 21), (args, res.err)
        assert len(res.err.splitlines()) == 1 and res.err.startswith("mailops: error:")


def test_mta_sts_policy_file(cli: Cli, home: Path) -> None:
    out = home / "mta-sts.txt"
    res = cli.ok("mta-sts", "policy", "--mx", "mail.example.test", "--mx", "*.backup.example",
                 "--mode", "enforce", "--max-age", "1209600", "-o", str(out))
    assert res.out == ""
    assert _policy_fields(out.read_text()) == [
        ("version", "STSv1"), ("mode", "enforce"), ("mx", "mail.example.test"),
        ("mx", "*.backup.example"), ("max_age", "1209600")]
    assert re.search(r'"v=STSv1; id=[A-Za-z0-9]{1,32}"', res.err)
    for bad in (["--max-age", "31557601"], ["--mode", "strict"], ["--mx", "bad host"]):
        res = cli("mta-sts", "policy", "--mx", "mail.example.test", *bad)
        assert res.code == 2 and res.err.startswith("mailops: error:"), res.err
