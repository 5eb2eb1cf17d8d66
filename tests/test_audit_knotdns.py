"""The Knot DNS fixture itself: zones served, TSIG updates accepted, signing and DS."""

from __future__ import annotations

import time

import dns.dnssec
import dns.name
import dns.query
import dns.rcode
import dns.rdatatype
import dns.tsigkeyring
import dns.update
import dns.zone
from conftest import KnotFactory


def test_serves_zone_with_added_soa_ns_and_accepts_tsig_updates(knot: KnotFactory) -> None:
    srv = knot({"example.test": "@ MX 10 mx\nmx A 127.0.0.2\n"})
    assert srv.nameserver == f"127.0.0.1:{srv.port}"
    assert srv.query("example.test", "SOA").answer
    assert srv.query("example.test", "NS").answer
    mx = srv.query("example.test", "MX").answer[0]
    assert [r.exchange.to_text() for r in mx] == ["mx.example.test."]

    ring = dns.tsigkeyring.from_text({srv.tsig_name: (srv.tsig_algorithm, srv.tsig_secret)})
    update = dns.update.UpdateMessage("example.test", keyring=ring,
                                      keyalgorithm=srv.tsig_algorithm)
    update.add("s1._domainkey", 300, "TXT", '"v=DKIM1; p="')
    reply = dns.query.tcp(update, srv.host, port=srv.port, timeout=5)
    assert reply.rcode() == dns.rcode.NOERROR
    deadline = time.monotonic() + 5
    while not srv.query("s1._domainkey.example.test", "TXT").answer:
        assert time.monotonic() < deadline, srv.log
        time.sleep(0.02)

    unsigned = dns.update.UpdateMessage("example.test")
    unsigned.add("evil", 300, "A", "127.0.0.9")
    reply = dns.query.tcp(unsigned, srv.host, port=srv.port, timeout=5)
    assert reply.rcode() in (dns.rcode.REFUSED, dns.rcode.NOTAUTH)


def test_signed_zone_validates_against_its_trust_anchor(knot: KnotFactory) -> None:
    srv = knot({"signed.test": '@ TXT "v=spf1 -all"\n', "plain.test": ""},
               signed={"signed.test"}, tsig=False)
    origin = dns.name.from_text("signed.test")
    anchor = dns.zone.from_text(srv.trust_anchor_ds("signed.test"), origin=origin,
                                relativize=False, check_origin=False)
    ds_set = anchor.find_rdataset(origin, dns.rdatatype.DS)
    keys = srv.query("signed.test", "DNSKEY", dnssec=True).answer
    dnskey = next(r for r in keys if r.rdtype == dns.rdatatype.DNSKEY)
    key_sig = next(r for r in keys if r.rdtype == dns.rdatatype.RRSIG)
    assert any(dns.dnssec.make_ds(origin, k, "SHA256") in ds_set for k in dnskey)
    dns.dnssec.validate(dnskey, key_sig, {origin: dnskey})
    txt = srv.query("signed.test", "TXT", dnssec=True).answer
    dns.dnssec.validate(txt[0], txt[1], {origin: dnskey})
    assert not any(r.rdtype == dns.rdatatype.RRSIG
                   for r in srv.query("plain.test", "SOA", dnssec=True).answer)


def test_servfail_zone_answers_servfail(knot: KnotFactory) -> None:
    srv = knot({"ok.test": ""}, servfail={"broken.test"})
    assert srv.query("broken.test", "SOA").rcode() == dns.rcode.SERVFAIL
    assert srv.query("ok.test", "SOA").rcode() == dns.rcode.NOERROR
