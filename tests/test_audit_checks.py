"""The audit engine against real zones served by Knot: one planted problem per domain.

All domains are audited in one run (as `mailops audit -f` would), then each test
reads its domain's findings. The last test checks every code of the catalogue was
produced by some planted domain, so no code ships untested.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from functools import cache
from typing import Any

import dns.reversename
import pytest
from audit_https import PolicyServer
from conftest import KnotFactory
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

from mailops.audit import AuditOptions, DomainReport, Finding, audit, parse_trust_anchors
from mailops.audit import codes as C

SELECTORS = ["sel", "ed", "short", "weak", "testing", "revoked", "broken", "sha1", "nosuch"]


def txt(text: str) -> str:
    """A TXT rdata in zone-file syntax, split into 255-byte strings."""
    return " ".join(f'"{text[i:i + 255]}"' for i in range(0, len(text), 255))


@cache
def rsa_p(bits: int, *, real: bool = False) -> str:
    """Base64 SubjectPublicKeyInfo of an RSA key of `bits`.

    The audit only parses the key, so a bare odd modulus of the right length serves
    (cryptography will not generate keys under 1024 bits, and 2048-bit generation is
    slow here); `real=True` generates a genuine key (used for the 1024-bit case).
    """
    if real:
        key = rsa.generate_private_key(public_exponent=65537, key_size=bits).public_key()
    else:
        key = rsa.RSAPublicNumbers(65537, 2 ** (bits - 1) + 1).public_key()
    der = key.public_bytes(serialization.Encoding.DER,
                           serialization.PublicFormat.SubjectPublicKeyInfo)
    return base64.b64encode(der).decode()


def ed_p() -> str:
    raw = ed25519.Ed25519PrivateKey.generate().public_key().public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return base64.b64encode(raw).decode()


def corrupt(ds: str) -> str:
    """The DS line with its digest's last hex digit changed: a DS that matches no key."""
    line = ds.strip()
    return line[:-1] + ("0" if line[-1] != "0" else "1") + "\n"


def ip6_owner(address: str) -> str:
    """The owner name of an IPv6 address's PTR, relative to the ip6.arpa zone."""
    return dns.reversename.from_address(address).to_text().removesuffix(".ip6.arpa.")


def mail_zone(d: str, *, mx: bool = True, spf: str | None = "v=spf1 mx -all",
              dmarc: str | None = "v=DMARC1; p=reject; rua=mailto:dmarc@{d}",
              extra: str = "") -> str:
    """A mail domain that is correct except for what the arguments change."""
    lines = []
    if mx:
        lines += ["@ MX 10 mx", "mx A 127.0.0.2", "mx AAAA ::2"]
    if spf is not None:
        lines.append(f"@ TXT {txt(spf)}")
    if dmarc is not None:
        lines.append(f"_dmarc TXT {txt(dmarc.format(d=d))}")
    return "\n".join(lines) + "\n" + extra


def sts_zone(d: str, ip: str, mx_host: bool = True) -> str:
    """A correct mail domain announcing MTA-STS, its policy host at `ip`."""
    host = f"mta-sts A {ip}\n" if mx_host else ""
    return mail_zone(d, extra=f'_mta-sts TXT "v=STSv1; id=1"\n{host}')


POLICY = "version: STSv1\r\nmode: {mode}\r\nmx: {mx}\r\nmax_age: {age}\r\n"
POLICIES: dict[str, str | None] = {
    "mta-sts.sts-404.test": None,
    "mta-sts.good.test": POLICY.format(mode="enforce", mx="*.good.test", age=604800),
    "mta-sts.sts-syntax.test": "version: STSv1\nmode: sometimes\nmax_age: 86400\n",
    "mta-sts.sts-testing.test": POLICY.format(mode="testing", mx="mx.sts-testing.test",
                                              age=604800),
    "mta-sts.sts-none.test": POLICY.format(mode="none", mx="mx.sts-none.test", age=86400),
    "mta-sts.sts-short.test": POLICY.format(mode="enforce", mx="mx.sts-short.test", age=600),
    "mta-sts.sts-mismatch.test": POLICY.format(mode="enforce", mx="mail.elsewhere.test",
                                               age=604800),
    "mta-sts.sts-badcert.test": POLICY.format(mode="enforce", mx="mx.sts-badcert.test",
                                              age=604800),
}
STS_DOMAINS = ("sts-syntax", "sts-testing", "sts-none", "sts-short", "sts-mismatch",
               "sts-badcert", "sts-404")


# an SPF record between 450 and 512 bytes (spf.too_long's "may not fit" warning)
SPF_470 = "v=spf1 " + " ".join(f"ip4:192.0.2.{i}" for i in range(32)) + " -all"
assert 450 < len(SPF_470) <= 512


def zones(https_ip: str) -> dict[str, str]:
    long_spf = "v=spf1 " + " ".join(f"ip4:192.0.2.{i}" for i in range(40)) + " -all"
    z = {
        "good.test": mail_zone("good.test", spf="v=spf1 mx include:_spf.provider.test -all",
                               extra=f"""
sel._domainkey TXT {txt(f"v=DKIM1; k=rsa; p={rsa_p(2048)}")}
ed._domainkey TXT {txt(f"v=DKIM1; k=ed25519; p={ed_p()}")}
_mta-sts TXT "v=STSv1; id=20260101"
mta-sts A {https_ip}
_smtp._tls TXT "v=TLSRPTv1; rua=mailto:tls@good.test"
default._bimi TXT "v=BIMI1; l=https://good.test/logo.svg; a=https://good.test/vmc.pem"
"""),
        "bl.test": '2.0.0.127 A 127.0.0.2\n2.0.0.127 TXT "listed: test entry"\n'
                   '4.0.0.127 A 127.255.255.254\n',
        "spf-mxlimit.test": mail_zone("spf-mxlimit.test",
                                      spf="v=spf1 mx:many.spf-mxlimit.test -all",
                                      extra="".join(f"many MX {i} mx\n" for i in range(11))),
        "provider.test": '_spf TXT "v=spf1 ip4:192.0.2.0/24 ip6:2001:db8::/32 -all"\n',
        "nullmx.test": '@ MX 0 .\n@ TXT "v=spf1 -all"\n_dmarc TXT "v=DMARC1; p=reject"\n',
        # reverse zones for the MX addresses used above and below
        "127.in-addr.arpa": "2.0.0 PTR mx.good.test.\n4.0.0 PTR real.mx-cname.test.\n"
                            "10.0.0 PTR mx.good.test.\n",
        "ip6.arpa": f"{ip6_owner('::2')} PTR mx.good.test.\n",
        "ptr-missing.test": mail_zone("ptr-missing.test", mx=False,
                                      extra="@ MX 10 mx\nmx A 127.0.0.9\nmx AAAA ::2\n"),
        "ptr-mismatch.test": mail_zone("ptr-mismatch.test", mx=False,
                                       extra="@ MX 10 mx\nmx A 127.0.0.10\nmx AAAA ::2\n"),
        "ptr-unknown.test": mail_zone("ptr-unknown.test", mx=False,
                                      extra="@ MX 10 mx\nmx A 10.0.0.1\nmx AAAA ::2\n"),
        # MX
        "mx-implicit.test": mail_zone("mx-implicit.test", mx=False, spf="v=spf1 a -all",
                                      extra="@ A 127.0.0.3\n"),
        "mx-none.test": mail_zone("mx-none.test", mx=False, spf="v=spf1 ip4:192.0.2.1 -all",
                                  dmarc="v=DMARC1; p=reject"),
        "mx-nullmixed.test": mail_zone("mx-nullmixed.test", extra="@ MX 0 .\n"),
        "mx-cname.test": mail_zone("mx-cname.test", mx=False,
                                   extra="@ MX 10 mail\nmail CNAME real\nreal A 127.0.0.4\n"),
        "mx-ip.test": mail_zone("mx-ip.test", mx=False, extra="@ MX 10 192.0.2.1.\n"),
        "mx-noaddr.test": mail_zone("mx-noaddr.test", mx=False, extra="@ MX 10 ghost\n"),
        "mx-dup.test": mail_zone("mx-dup.test", extra="@ MX 20 mx\n"),
        "mx-v4only.test": mail_zone("mx-v4only.test", mx=False,
                                    extra="@ MX 10 mx\nmx A 127.0.0.2\n"),
        # SPF
        "spf-missing.test": mail_zone("spf-missing.test", spf=None),
        "spf-multi.test": mail_zone("spf-multi.test", extra='@ TXT "v=spf1 -all"\n'),
        "spf-syntax.test": mail_zone("spf-syntax.test", spf="v=spf1 ip4:192.0.2.444 -all"),
        "spf-limit.test": mail_zone("spf-limit.test", spf="v=spf1 include:i1.spf-limit.test "
                                    "include:i2.spf-limit.test -all", extra="""
h A 127.0.0.5
h MX 10 h
i1 TXT "v=spf1 a:h.spf-limit.test mx:h.spf-limit.test a:h.spf-limit.test a:h.spf-limit.test -all"
i2 TXT "v=spf1 a:h.spf-limit.test mx:h.spf-limit.test redirect=i3.spf-limit.test"
i3 TXT "v=spf1 a:h.spf-limit.test a:h.spf-limit.test mx:h.spf-limit.test -all"
"""),
        "spf-void.test": mail_zone("spf-void.test", spf="v=spf1 a:n1.spf-void.test "
                                   "a:n2.spf-void.test mx:n3.spf-void.test mx -all"),
        "spf-loop.test": mail_zone("spf-loop.test", spf="v=spf1 include:b.spf-loop.test -all",
                                   extra='b TXT "v=spf1 include:spf-loop.test -all"\n'),
        "spf-incmissing.test": mail_zone("spf-incmissing.test",
                                         spf="v=spf1 include:none.spf-incmissing.test -all"),
        "spf-incfail.test": mail_zone("spf-incfail.test",
                                      spf="v=spf1 include:elsewhere.unserved.test -all"),
        "spf-plusall.test": mail_zone("spf-plusall.test", spf="v=spf1 mx +all"),
        "spf-qall.test": mail_zone("spf-qall.test", spf="v=spf1 mx ?all"),
        "spf-softfail.test": mail_zone("spf-softfail.test", spf="v=spf1 mx ~all",
                                       dmarc="v=DMARC1; p=none; rua=mailto:d@{d}"),
        "spf-softfail-ok.test": mail_zone("spf-softfail-ok.test", spf="v=spf1 mx ~all"),
        "spf-noall.test": mail_zone("spf-noall.test", spf="v=spf1 mx"),
        "spf-ptr.test": mail_zone("spf-ptr.test", spf="v=spf1 mx ptr -all"),
        "spf-long.test": mail_zone("spf-long.test", spf=long_spf),
        "spf-rrtype.test": mail_zone("spf-rrtype.test", extra='@ SPF "v=spf1 mx -all"\n'),
        "spf-mxhost.test": mail_zone("spf-mxhost.test", spf="v=spf1 mx:m.spf-mxhost.test -all",
                                     extra="m MX 10 ghost\n"),
        "spf-afterall.test": mail_zone("spf-afterall.test", spf="v=spf1 mx -all ip4:192.0.2.1"),
        "spf-twoall.test": mail_zone("spf-twoall.test", spf="v=spf1 mx -all ~all"),
        "spf-unkmod.test": mail_zone("spf-unkmod.test", spf="v=spf1 mx foo=bar -all"),
        "spf-redirall.test": mail_zone("spf-redirall.test",
                                       spf="v=spf1 mx redirect=_spf.provider.test -all"),
        "spf-exp.test": mail_zone("spf-exp.test", spf="v=spf1 mx exp=why.spf-exp.test -all"),
        "spf-450.test": mail_zone("spf-450.test", spf=SPF_470),
        "spf-upper.test": mail_zone("spf-upper.test", spf="V=SPF1 mx -all"),
        # DMARC
        "dmarc-missing.test": mail_zone("dmarc-missing.test", dmarc=None),
        "dmarc-multi.test": mail_zone("dmarc-multi.test", extra='_dmarc TXT "v=DMARC1; p=none"\n'),
        "dmarc-syntax.test": mail_zone("dmarc-syntax.test", dmarc="v=DMARC1; p=maybe"),
        "dmarc-none.test": mail_zone("dmarc-none.test", dmarc="v=DMARC1; p=none; rua=mailto:d@{d}"),
        "dmarc-pct.test": mail_zone("dmarc-pct.test",
                                    dmarc="v=DMARC1; p=reject; pct=50; rua=mailto:d@{d}"),
        "dmarc-sp.test": mail_zone("dmarc-sp.test",
                                   dmarc="v=DMARC1; p=reject; sp=none; rua=mailto:d@{d}"),
        "dmarc-strict.test": mail_zone("dmarc-strict.test",
                                       dmarc="v=DMARC1; p=reject; adkim=s; rua=mailto:d@{d}"),
        "dmarc-norua.test": mail_zone("dmarc-norua.test", dmarc="v=DMARC1; p=reject"),
        "dmarc-ext.test": mail_zone("dmarc-ext.test",
                                    dmarc="v=DMARC1; p=reject; rua=mailto:r@reports.test"),
        "dmarc-ext-ok.test": mail_zone("dmarc-ext-ok.test",
                                       dmarc="v=DMARC1; p=reject; rua=mailto:r@reports.test"),
        "reports.test": '@ MX 10 mx.good.test.\ndmarc-ext-ok.test._report._dmarc TXT "v=DMARC1"\n',
        "dmarc-rua-dead.test": mail_zone("dmarc-rua-dead.test", dmarc="v=DMARC1; p=reject; "
                                         "rua=mailto:r@gone.dmarc-rua-dead.test"),
        "dmarc-porder.test": mail_zone("dmarc-porder.test",
                                       dmarc="v=DMARC1; rua=mailto:d@{d}; p=reject"),
        "dmarc-size.test": mail_zone("dmarc-size.test",
                                     dmarc="v=DMARC1; p=reject; rua=mailto:d@{d}!10m"),
        "dmarc-manyrua.test": mail_zone("dmarc-manyrua.test", dmarc="v=DMARC1; p=reject; "
                                        "rua=mailto:a@{d},mailto:b@{d},mailto:c@{d}"),
        "tlsrpt-ws.test": mail_zone("tlsrpt-ws.test", extra='_smtp._tls TXT "v=TLSRPTv1 ; '
                                    'rua=mailto:tls@tlsrpt-ws.test"\n'),
        "tlsrpt-unk.test": mail_zone("tlsrpt-unk.test", extra='_smtp._tls TXT "v=TLSRPTv1; '
                                     'rua=mailto:tls@tlsrpt-unk.test; foo=bar"\n'),
        "tlsrpt-other.test": mail_zone("tlsrpt-other.test", extra='_smtp._tls TXT '
                                       '"v=TLSRPTv1; rua=mailto:tls@tlsrpt-other.test"\n'
                                       '_smtp._tls TXT "site-verification=abc"\n'),
        "dmarc-org.test": mail_zone("dmarc-org.test",
                                    dmarc="v=DMARC1; p=reject; sp=quarantine; rua=mailto:d@{d}",
                                    extra="sub MX 10 mx\nsub TXT \"v=spf1 mx -all\"\n"),
        # DKIM (selectors: SELECTORS); a probed weak key at "default"
        "dkim.test": mail_zone("dkim.test", extra=f"""
short._domainkey TXT {txt(f"v=DKIM1; p={rsa_p(512)}")}
weak._domainkey TXT {txt(f"v=DKIM1; p={rsa_p(1024, real=True)}")}
testing._domainkey TXT {txt(f"v=DKIM1; t=y; p={rsa_p(2048)}")}
revoked._domainkey TXT "v=DKIM1; k=rsa; p="
broken._domainkey TXT "v=DKIM1; k=rsa; p=not*base64"
sha1._domainkey TXT {txt(f"v=DKIM1; h=sha1; p={rsa_p(2048)}")}
ed._domainkey TXT {txt(f"v=DKIM1; k=ed25519; p={ed_p()}")}
"""),
        "dkim-probe.test": mail_zone("dkim-probe.test", extra=f"""
default._domainkey TXT {txt(f"v=DKIM1; p={rsa_p(1024)}")}
k1._domainkey TXT "v=DKIM1; p="
"""),
        "dnssec-bogus.test": mail_zone("dnssec-bogus.test"),
        # MTA-STS, TLS-RPT, BIMI
        **{f"{d}.test": sts_zone(f"{d}.test", https_ip) for d in STS_DOMAINS},
        "sts-noaddr.test": sts_zone("sts-noaddr.test", https_ip, mx_host=False),
        "policies-bad.test": mail_zone("policies-bad.test", extra="""
_mta-sts TXT "v=STSv1; id=not-valid!"
_smtp._tls TXT "v=TLSRPTv1; rua=ftp://reports.example"
default._bimi TXT "v=BIMI1; l=http://policies-bad.test/logo.png"
"""),
        "bimi-noenforce.test": mail_zone("bimi-noenforce.test",
                                         dmarc="v=DMARC1; p=none; rua=mailto:d@{d}",
                                         extra='default._bimi TXT "v=BIMI1; l=https://x.test/l.svg"\n'),
    }
    return z


SELECTORS_FOR = {"good.test": ["sel", "ed"], "dkim.test": SELECTORS}


@pytest.fixture(scope="module")
def served(knot_module: KnotFactory, tmp_path_factory: pytest.TempPathFactory
           ) -> Iterator[tuple[Any, dict[str, str]]]:
    """(the Knot server, its zones), with the MTA-STS policy host running."""
    https = PolicyServer(tmp_path_factory.mktemp("https"), POLICIES,
                         unsigned_hosts={"mta-sts.sts-badcert.test"}).start()
    with pytest.MonkeyPatch.context() as env:
        env.setenv("SSL_CERT_FILE", str(https.ca_file))
        all_zones = zones(https.address)
        srv = knot_module(all_zones, tsig=False, servfail={"servfail.test"},
                          signed={"good.test", "dnssec-bogus.test"})
        yield srv, all_zones
    https.stop()


@pytest.fixture(scope="module")
def reports(served: tuple[Any, dict[str, str]]) -> dict[str, DomainReport]:
    srv, all_zones = served
    return _run_all(srv, all_zones)


def _run_all(srv: Any, served: dict[str, str]) -> dict[str, DomainReport]:
    domains = [d for d in served if d.endswith(".test")
               and d not in ("provider.test", "reports.test", "bl.test")]
    domains += ["sub.dmarc-org.test", "servfail.test", "nosuch.mx-none.test"]
    anchors = srv.trust_anchor_ds("good.test") + corrupt(srv.trust_anchor_ds("dnssec-bogus.test"))
    opts = AuditOptions(nameservers=[srv.nameserver], timeout=3,
                        trust_anchors=parse_trust_anchors(anchors))
    found = {r.domain: r for r in audit([d for d in domains if d not in SELECTORS_FOR], opts)}
    for domain, selectors in SELECTORS_FOR.items():
        opts.selectors = selectors
        found |= {r.domain: r for r in audit([domain], opts)}
    return found


def codes_of(report: DomainReport, severity: str | None = None) -> set[str]:
    return {f.code for f in report.findings
            if severity is None or f.severity.value == severity}


def find(report: DomainReport, code: str, needle: str = "") -> Finding:
    for f in report.findings:
        if f.code == code and needle in f.message:
            return f
    raise AssertionError(f"{report.domain}: no {code} ({needle!r}) in "
                         f"{[(f.code, f.message) for f in report.findings]}")


def problems(report: DomainReport) -> list[tuple[str, str]]:
    return [(f.code, f.message) for f in report.findings if f.severity.value != "info"]


def test_correct_domain_has_no_warning_or_error(reports: dict[str, DomainReport]) -> None:
    good = reports["good.test"]
    assert problems(good) == []
    assert codes_of(good) == set()  # everything optional is published too


def test_null_mx_domain_has_only_the_null_mx_fact(reports: dict[str, DomainReport]) -> None:
    null = reports["nullmx.test"]
    assert problems(null) == []
    assert find(null, C.MX_NULL_MX).severity.value == "info"
    # receive-side checks are skipped for a domain that takes no mail
    assert not codes_of(null) & {C.MTA_STS_MISSING, C.TLSRPT_MISSING, C.BIMI_MISSING,
                                 C.DKIM_NOT_FOUND}


PLANTED: list[tuple[str, str, str, str]] = [
    # domain, code, severity, text the message or evidence must contain
    ("mx-implicit.test", C.MX_MISSING_IMPLICIT, "warning", "implicit MX"),
    # its rua address is at the domain itself, which has an address but no MX
    ("mx-implicit.test", C.DMARC_RUA_NO_MX, "warning", "only an address"),
    ("mx-none.test", C.MX_MISSING, "warning", "no MX record and no address"),
    ("mx-nullmixed.test", C.MX_NULL_MX_MIXED, "error", "null MX"),
    ("mx-cname.test", C.MX_CNAME_TARGET, "warning", "real.mx-cname.test"),
    ("mx-ip.test", C.MX_IP_LITERAL, "error", "192.0.2.1"),
    ("mx-ip.test", C.SPF_VOID_TERM, "warning", "an IP address written as a host name"),
    # valid by the RFCs' grammars, but read differently by receivers (checkdmarc flags them)
    ("spf-upper.test", C.SPF_SYNTAX, "warning", "'V=SPF1'"),
    ("dmarc-size.test", C.DMARC_RUA_SIZE_LIMIT, "warning", "!10m"),
    ("tlsrpt-ws.test", C.TLSRPT_SYNTAX, "warning", 'exactly "v=TLSRPTv1;"'),
    ("mx-noaddr.test", C.MX_NO_ADDRESS, "error", "ghost.mx-noaddr.test"),
    ("mx-dup.test", C.MX_DUPLICATE, "warning", "mx.mx-dup.test"),
    ("mx-v4only.test", C.MX_NO_IPV6, "info", "IPv6"),
    ("spf-missing.test", C.SPF_MISSING, "error", "no SPF record"),
    ("spf-multi.test", C.SPF_MULTIPLE_RECORDS, "error", "2 SPF records"),
    ("spf-syntax.test", C.SPF_SYNTAX, "error", "192.0.2.444"),
    ("spf-limit.test", C.SPF_LOOKUP_LIMIT, "error", "needs 12 DNS lookups"),
    ("spf-void.test", C.SPF_VOID_LOOKUPS, "error", "3 SPF terms"),
    ("spf-void.test", C.SPF_VOID_TERM, "warning", "n1.spf-void.test"),
    ("spf-mxlimit.test", C.SPF_LOOKUP_LIMIT, "error", "11 MX records"),
    ("dmarc-rua-dead.test", C.DMARC_RUA_NO_MX, "warning", "gone.dmarc-rua-dead.test"),
    ("spf-loop.test", C.SPF_LOOP, "error", "spf-loop.test -> b.spf-loop.test -> spf-loop.test"),
    ("spf-incmissing.test", C.SPF_INCLUDE_MISSING, "error", "none.spf-incmissing.test"),
    ("spf-incfail.test", C.DNS_LOOKUP_FAILED, "error", "elsewhere.unserved.test"),
    ("spf-plusall.test", C.SPF_PLUS_ALL, "error", "+all"),
    ("spf-qall.test", C.SPF_PLUS_ALL, "warning", "?all"),
    ("spf-softfail.test", C.SPF_SOFTFAIL_ALL, "warning", "DMARC p=none"),
    ("spf-noall.test", C.SPF_NO_ALL, "warning", "no all term"),
    ("spf-ptr.test", C.SPF_PTR_MECHANISM, "warning", "ptr"),
    ("spf-long.test", C.SPF_TOO_LONG, "warning", "bytes"),
    ("spf-rrtype.test", C.SPF_RR_TYPE, "warning", "type 99"),
    ("spf-mxhost.test", C.SPF_VOID_TERM, "warning", "MX host ghost.spf-mxhost.test"),
    ("spf-afterall.test", C.SPF_SYNTAX, "warning", "terms after all"),
    ("spf-twoall.test", C.SPF_SYNTAX, "warning", "two all terms"),
    ("spf-unkmod.test", C.SPF_SYNTAX, "warning", "unknown modifier foo=bar"),
    ("spf-redirall.test", C.SPF_SYNTAX, "warning", "the redirect is ignored"),
    ("spf-exp.test", C.SPF_SYNTAX, "warning", "exp=why.spf-exp.test has no TXT record"),
    ("spf-450.test", C.SPF_TOO_LONG, "warning", "may not fit a 512-byte UDP reply"),
    ("mx-noaddr.test", C.SPF_VOID_TERM, "warning", "MX host ghost.mx-noaddr.test"),
    ("dmarc-porder.test", C.DMARC_SYNTAX, "error", "p= must be the second tag"),
    ("dmarc-manyrua.test", C.DMARC_MANY_RUA, "warning", "3 rua= addresses"),
    ("tlsrpt-unk.test", C.TLSRPT_SYNTAX, "warning", "unknown tag(s) foo"),
    ("tlsrpt-other.test", C.TLSRPT_SYNTAX, "info", "other TXT record"),
    ("bimi-noenforce.test", C.BIMI_NO_CERTIFICATE, "warning", "VMC"),
    ("dkim-probe.test", C.DKIM_REVOKED, "warning", "k1._domainkey"),
    ("dmarc-missing.test", C.DMARC_MISSING, "error", "no DMARC record"),
    ("dmarc-multi.test", C.DMARC_MULTIPLE_RECORDS, "error", "2 DMARC records"),
    ("dmarc-syntax.test", C.DMARC_SYNTAX, "error", "p=maybe"),
    ("dmarc-none.test", C.DMARC_POLICY_NONE, "warning", "p=none"),
    ("dmarc-pct.test", C.DMARC_PCT_PARTIAL, "warning", "pct=50"),
    ("dmarc-sp.test", C.DMARC_SUBDOMAIN_POLICY_NONE, "warning", "sp=none"),
    ("dmarc-strict.test", C.DMARC_STRICT_ALIGNMENT, "info", "adkim=s"),
    ("dmarc-norua.test", C.DMARC_NO_RUA, "info", "rua"),
    ("dmarc-ext.test", C.DMARC_EXTERNAL_RUA_UNAUTHORIZED, "warning",
     "dmarc-ext.test._report._dmarc.reports.test"),
    ("sub.dmarc-org.test", C.DMARC_INHERITED, "info", "dmarc-org.test"),
    ("dkim.test", C.DKIM_KEY_TOO_SHORT, "error", "short._domainkey"),
    ("dkim.test", C.DKIM_WEAK_KEY, "warning", "weak._domainkey"),
    ("dkim.test", C.DKIM_TESTING_MODE, "warning", "testing._domainkey"),
    ("dkim.test", C.DKIM_REVOKED, "warning", "revoked._domainkey"),
    ("dkim.test", C.DKIM_SYNTAX, "error", "broken._domainkey"),
    ("dkim.test", C.DKIM_SHA1_ONLY, "warning", "sha1._domainkey"),
    ("dkim.test", C.DKIM_MISSING, "error", "selector nosuch"),
    ("dkim-probe.test", C.DKIM_WEAK_KEY, "warning", "default._domainkey"),
    ("mx-implicit.test", C.DKIM_NOT_FOUND, "info", "common selectors"),
    ("dkim-probe.test", C.MTA_STS_MISSING, "info", "MTA-STS"),
    ("dkim-probe.test", C.TLSRPT_MISSING, "info", "TLS-RPT"),
    ("dkim-probe.test", C.BIMI_MISSING, "info", "BIMI"),
    ("policies-bad.test", C.MTA_STS_SYNTAX, "error", "id="),
    ("policies-bad.test", C.TLSRPT_SYNTAX, "error", "ftp://"),
    ("policies-bad.test", C.BIMI_SYNTAX, "error", "https"),
    ("bimi-noenforce.test", C.BIMI_DMARC_NOT_ENFORCING, "warning", "enforcing"),
    ("servfail.test", C.DNS_LOOKUP_FAILED, "error", "SERVFAIL"),
    ("dnssec-bogus.test", C.DNSSEC_BOGUS, "error", "matches the trust anchor"),
    ("mx-dup.test", C.DNSSEC_UNSIGNED, "info", "not signed"),
    ("ptr-missing.test", C.PTR_MISSING, "warning", "127.0.0.9"),
    ("sts-404.test", C.MTA_STS_POLICY_UNREACHABLE, "error", "HTTP 404"),
    ("sts-badcert.test", C.MTA_STS_POLICY_UNREACHABLE, "error", "certificate not valid"),
    ("sts-noaddr.test", C.MTA_STS_POLICY_UNREACHABLE, "error", "no address"),
    ("sts-syntax.test", C.MTA_STS_POLICY_SYNTAX, "error", "mode must be"),
    ("sts-testing.test", C.MTA_STS_MODE_TESTING, "info", "testing"),
    ("sts-none.test", C.MTA_STS_MODE_NONE, "info", "none"),
    ("sts-short.test", C.MTA_STS_MAX_AGE_SHORT, "warning", "max_age 600"),
    ("sts-mismatch.test", C.MTA_STS_MX_MISMATCH, "error", "mx.sts-mismatch.test"),
    ("ptr-mismatch.test", C.PTR_FCRDNS_MISMATCH, "warning", "does not resolve back to 127.0.0.10"),
    ("ptr-unknown.test", C.DNS_LOOKUP_FAILED, "info", "reverse DNS of MX host"),
]


@pytest.mark.parametrize("domain,code,severity,needle", PLANTED,
                         ids=[f"{d}:{c}" for d, c, _, _ in PLANTED])
def test_planted_problem_is_found(reports: dict[str, DomainReport], domain: str, code: str,
                                  severity: str, needle: str) -> None:
    report = reports[domain]
    hits = [f for f in report.findings if f.code == code
            and needle in " ".join([f.message, *f.evidence])]
    assert hits, f"{domain}: want {code} ~ {needle!r}, got {problems(report)}"
    assert {f.severity.value for f in hits} == {severity}
    assert all(f.evidence or f.code == C.DKIM_NOT_FOUND for f in hits)


def test_only_the_planted_problem_is_reported(reports: dict[str, DomainReport]) -> None:
    """Each single-problem domain gets its own warnings/errors, not collateral ones."""
    expected: dict[str, set[str]] = {}
    for domain, code, severity, _ in PLANTED:
        if severity != "info":
            expected.setdefault(domain, set()).add(code)
    expected["spf-softfail.test"].add(C.DMARC_POLICY_NONE)  # the cause of the softfail finding
    expected["bimi-noenforce.test"].add(C.DMARC_POLICY_NONE)
    expected["mx-nullmixed.test"] = {C.MX_NULL_MX_MIXED}
    for domain, codes in expected.items():
        got = codes_of(reports[domain], "error") | codes_of(reports[domain], "warning")
        assert got == codes, f"{domain}: {problems(reports[domain])}"


def test_bulk_lists_split_over_processes_give_the_same_reports(
        served: tuple[Any, dict[str, str]], reports: dict[str, DomainReport],
        monkeypatch: pytest.MonkeyPatch) -> None:
    from mailops.audit import runner

    monkeypatch.setattr(runner, "PARALLEL_FROM", 2)  # every list goes to worker processes
    monkeypatch.setattr(runner, "_CHUNK", 7)  # several chunks per worker, out of order
    srv, all_zones = served
    domains = sorted(d for d in reports if d not in SELECTORS_FOR and d in all_zones)
    anchors = srv.trust_anchor_ds("good.test") + corrupt(srv.trust_anchor_ds("dnssec-bogus.test"))
    opts = AuditOptions(nameservers=[srv.nameserver], timeout=3,
                        trust_anchors=parse_trust_anchors(anchors))
    seen: list[str] = []
    split = runner.audit(domains, opts, progress=lambda r: seen.append(r.domain))
    assert [r.domain for r in split] == domains  # input order, whatever finished first
    assert sorted(seen) == domains
    for report in split:
        assert codes_of(report) == codes_of(reports[report.domain]), report.domain


def test_a_name_that_does_not_exist_says_so_first(reports: dict[str, DomainReport]) -> None:
    gone = reports["nosuch.mx-none.test"]
    assert gone.findings[0].code == C.DNS_NXDOMAIN
    assert gone.findings[0].severity.value == "error"
    assert "NXDOMAIN" in gone.findings[0].evidence[0]
    assert C.DNSSEC_BOGUS not in codes_of(gone)


def test_softfail_with_enforcing_dmarc_is_fine(reports: dict[str, DomainReport]) -> None:
    assert problems(reports["spf-softfail-ok.test"]) == []


@pytest.mark.parametrize("domain", ["spf-upper.test", "dmarc-size.test", "tlsrpt-ws.test"])
def test_valid_variants_are_read_but_warned(reports: dict[str, DomainReport], domain: str) -> None:
    """V=SPF1 (RFC 7208 12: ABNF literals are case-insensitive), a rua size limit `!10m`
    (RFC 7489 6.4), whitespace around `;` in TLS-RPT (RFC 8460 3: *WSP ";" *WSP) parse
    as records: one warning each (PLANTED), no error."""
    found = [f for f in reports[domain].findings if f.severity.value != "info"]
    assert [f.severity.value for f in found] == ["warning"], found
    assert not codes_of(reports[domain]) & {C.SPF_MISSING, C.DMARC_SYNTAX}
    if domain.startswith("tlsrpt"):
        assert C.TLSRPT_MISSING not in codes_of(reports[domain])


def test_lookup_limit_counts_nested_includes_and_redirects(
        reports: dict[str, DomainReport]) -> None:
    f = find(reports["spf-limit.test"], C.SPF_LOOKUP_LIMIT)
    text = "\n".join(f.evidence)
    assert "redirect=i3.spf-limit.test" in text and "i3.spf-limit.test:" in text
    assert f.fix


def test_external_rua_with_authorisation_is_fine(reports: dict[str, DomainReport]) -> None:
    assert problems(reports["dmarc-ext-ok.test"]) == []


def test_inherited_dmarc_uses_the_subdomain_policy(reports: dict[str, DomainReport]) -> None:
    sub = reports["sub.dmarc-org.test"]
    assert C.DMARC_MISSING not in codes_of(sub)
    assert find(sub, C.DMARC_INHERITED).severity.value == "info"


def test_ed25519_and_2048_bit_keys_are_accepted(reports: dict[str, DomainReport]) -> None:
    for f in reports["dkim.test"].findings:
        assert not f.message.startswith(("ed._domainkey.", "sel._domainkey.")), f


def test_lookup_failure_is_never_reported_as_missing(reports: dict[str, DomainReport]) -> None:
    broken = reports["servfail.test"]
    assert codes_of(broken) == {C.DNS_LOOKUP_FAILED}, problems(broken)
    incfail = reports["spf-incfail.test"]
    assert C.SPF_INCLUDE_MISSING not in codes_of(incfail)
    assert find(incfail, C.DNS_LOOKUP_FAILED).severity.value == "error"


def test_unreachable_resolver_gives_lookup_failed_only() -> None:
    from knotdns import free_port

    port = free_port()  # nothing listens there: every query times out
    report = audit(["example.test"], AuditOptions(nameservers=[f"127.0.0.1:{port}"],
                                                  timeout=0.3))[0]
    assert codes_of(report) == {C.DNS_LOOKUP_FAILED}
    assert all("timeout" in f.message for f in report.findings)


def test_every_catalogue_code_is_produced_by_a_planted_domain(
        reports: dict[str, DomainReport]) -> None:
    emitted = {f.code for r in reports.values() for f in r.findings}
    assert emitted <= C.ALL_CODES
    elsewhere = {C.DNSBL_LISTED, C.DNSBL_UNUSABLE}  # test_dnsbl_listing_and_refusal
    elsewhere |= {c for c in C.ALL_CODES if c.startswith(("smtp.", "dane."))}  # test_audit_smtp
    assert C.ALL_CODES - emitted - elsewhere == set()


def test_json_shape(reports: dict[str, DomainReport]) -> None:
    data: Any = reports["dmarc-none.test"].to_dict()
    assert set(data) == {"domain", "findings"}
    f = next(x for x in data["findings"] if x["code"] == C.DMARC_POLICY_NONE)
    assert set(f) == {"code", "severity", "message", "evidence", "fix"}
    assert isinstance(f["evidence"], list) and isinstance(f["fix"], str)


def test_port_and_address_forms_of_nameserver() -> None:
    from mailops.audit.dnsclient import parse_nameserver
    from mailops.errors import UsageError

    assert parse_nameserver("127.0.0.1") == ("127.0.0.1", 53)
    assert parse_nameserver("127.0.0.1:5353") == ("127.0.0.1", 5353)
    assert parse_nameserver("[::1]:5353") == ("::1", 5353)
    assert parse_nameserver("::1") == ("::1", 53)
    for bad in ("127.0.0.1:99999", "resolver.example", "[::1]x"):
        with pytest.raises(UsageError):
            parse_nameserver(bad)


def test_dkim_probe_stops_at_an_nxdomain_domainkey(served: tuple[Any, dict[str, str]]
                                                   ) -> None:
    """RFC 8020: `_domainkey` NXDOMAIN (no selector below it) costs one query instead of
    the probe; a zone with a selector answers NODATA there (empty non-terminal) and is
    probed in full."""
    import asyncio

    from mailops.audit.dkim import COMMON_SELECTORS, check_dkim
    from mailops.audit.dnsclient import DnsClient

    srv, _ = served
    none = DnsClient([srv.nameserver], timeout=3)
    empty = asyncio.run(check_dkim(none, "mx-implicit.test", []))
    assert none.queries == 1 and empty.found == []
    assert [f.code for f in empty.findings] == [C.DKIM_NOT_FOUND]
    assert "NXDOMAIN" in empty.findings[0].evidence[0]
    some = DnsClient([srv.nameserver], timeout=3)
    probed = asyncio.run(check_dkim(some, "dkim-probe.test", []))
    assert some.queries == 1 + len(COMMON_SELECTORS) and probed.found == ["default", "k1"]


def test_report_domain_whose_address_lookup_fails_is_lookup_failed() -> None:
    """MX answered (no records), A/AAAA SERVFAIL: unknown, so `dns.lookup_failed` and no
    verdict. Knot cannot fail one type only, so a dnspython server on loopback answers."""
    import asyncio
    import socket
    import threading

    import dns.message
    import dns.rcode
    import dns.rdatatype

    from mailops.audit.dmarc import _accepts_mail
    from mailops.audit.dnsclient import DnsClient

    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.settimeout(0.2)
    done = threading.Event()

    def serve() -> None:
        while not done.is_set():
            try:
                wire, peer = sock.recvfrom(4096)
            except TimeoutError:
                continue
            query = dns.message.from_wire(wire)
            reply = dns.message.make_response(query)
            if query.question[0].rdtype != dns.rdatatype.MX:
                reply.set_rcode(dns.rcode.SERVFAIL)
            sock.sendto(reply.to_wire(), peer)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        client = DnsClient([f"127.0.0.1:{sock.getsockname()[1]}"], timeout=2)
        found = asyncio.run(_accepts_mail(client, "reports.example.test"))
    finally:
        done.set()
        thread.join()
        sock.close()
    assert [f.code for f in found] == [C.DNS_LOOKUP_FAILED] * 2
    assert all("SERVFAIL" in f.message for f in found)


def test_dnsbl_listing_and_refusal(served: tuple[Any, dict[str, str]]) -> None:
    """127.0.0.2 is listed; 127.0.0.4 gets 127.255.255.254 ('query refused', RFC 5782
    practice): info, never a listing; 127.0.0.9 is not listed at all."""
    srv, _ = served
    opts = AuditOptions(nameservers=[srv.nameserver], dnsbl_zones=["bl.test"],
                        probe_selectors=False, dnssec=False, mta_sts_fetch=False)
    found = {r.domain: r for r in audit(["mx-v4only.test", "mx-cname.test",
                                         "ptr-missing.test"], opts)}
    listed = find(found["mx-v4only.test"], C.DNSBL_LISTED)
    assert listed.severity.value == "error" and "listed: test entry" in "".join(listed.evidence)
    unusable = find(found["mx-cname.test"], C.DNSBL_UNUSABLE, "refused")
    assert unusable.severity.value == "info"
    assert C.DNSBL_LISTED not in codes_of(found["mx-cname.test"])
    assert not codes_of(found["ptr-missing.test"]) & {C.DNSBL_LISTED, C.DNSBL_UNUSABLE}
