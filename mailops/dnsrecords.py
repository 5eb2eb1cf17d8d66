"""The DNS records a mail domain should publish (MX, SPF, DKIM, DMARC, MTA-STS, TLS-RPT),
built from what the user says, as dnspython rdata so the zone-file text is right."""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field
from typing import Any

import dns.name
import dns.rdata
import dns.rdataclass
import dns.rdatatype
import dns.rrset

from mailops.dkim.keys import check_domain, check_selector, record_name, txt_rdata
from mailops.errors import UsageError
from mailops.mtastspolicy import DEFAULT_MAX_AGE, build_policy, check_mx_pattern, policy_id

DMARC_POLICIES = ("none", "quarantine", "reject")
SPF_LOOKUP_LIMIT = 10  # RFC 7208 4.6.4
# Service names like _spf.example.net carry underscores, so LDH is too strict here.
_NAME = re.compile(r"(?:[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?\.)+[A-Za-z0-9-]{2,63}")


def check_name(name: str, option: str) -> str:
    """A DNS name (underscores allowed) lower-cased without a final dot; UsageError if not."""
    text = name.strip().rstrip(".").lower()
    if len(text) > 253 or not _NAME.fullmatch(text):
        raise UsageError(f"{option} {name!r}: expected a DNS name")
    return text


@dataclass(frozen=True)
class RecordsRequest:
    """What the domain's mail setup is."""

    domain: str
    mx: list[str] = field(default_factory=list)
    spf_include: list[str] = field(default_factory=list)
    ips: list[str] = field(default_factory=list)
    dkim: list[tuple[str, str]] = field(default_factory=list)  # (selector, TXT text)
    dmarc_policy: str = "reject"
    rua: list[str] = field(default_factory=list)
    mta_sts_mode: str | None = None
    mta_sts_max_age: int = DEFAULT_MAX_AGE
    tlsrpt_rua: list[str] = field(default_factory=list)
    null_mx: bool = False
    ttl: int = 3600


@dataclass(frozen=True)
class Record:
    """One recommended record."""

    purpose: str  # mx, spf, dkim, dmarc, mta-sts, tls-rpt
    rrset: dns.rrset.RRset

    @property
    def line(self) -> str:
        """The zone-file line(s)."""
        return str(self.rrset.to_text())

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready: purpose, name, ttl, type and the rdata texts."""
        return {"purpose": self.purpose, "name": self.rrset.name.to_text(),
                "ttl": self.rrset.ttl, "type": dns.rdatatype.to_text(self.rrset.rdtype),
                "data": [r.to_text() for r in self.rrset],
                "values": [_value(r) for r in self.rrset]}


@dataclass
class Recommendation:
    """The records plus notes on what lives outside the zone (policy file, other zones)."""

    domain: str
    records: list[Record]
    notes: list[str]
    mta_sts_policy: str | None = None

    def zone_text(self) -> str:
        """Zone-file text: notes as `;` comments, then one line per record."""
        lines = [f"; {note}" for note in self.notes]
        lines += [r.line for r in self.records]
        return "\n".join(lines) + "\n"

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form (documented in docs/dns-records.md)."""
        return {"domain": self.domain, "records": [r.as_dict() for r in self.records],
                "notes": self.notes, "mta_sts_policy": self.mta_sts_policy}


def _value(rdata: dns.rdata.Rdata) -> str:
    """What a DNS provider's web form wants: TXT strings joined and unquoted."""
    strings = getattr(rdata, "strings", None)
    if strings is not None:
        return b"".join(strings).decode("ascii", "replace")
    return str(rdata.to_text())


def _rrset(name: dns.name.Name, ttl: int, rdtype: str, texts: list[str]) -> dns.rrset.RRset:
    rdatas = [dns.rdata.from_text(dns.rdataclass.IN, rdtype, t) for t in texts]
    return dns.rrset.from_rdata_list(name, ttl, rdatas)


def _txt(name: dns.name.Name, ttl: int, text: str) -> dns.rrset.RRset:
    return dns.rrset.from_rdata(name, ttl, txt_rdata(text))


def _uri(value: str, option: str, schemes: tuple[str, ...]) -> str:
    if not value.startswith(schemes) or "," in value or ";" in value or " " in value:
        raise UsageError(f"{option} {value!r}: expected {' or '.join(schemes)}ADDRESS")
    return value


def spf_text(req: RecordsRequest) -> str:
    """The SPF policy: mx, ip4/ip6, includes, then -all (RFC 7208)."""
    terms = ["v=spf1"]
    if req.mx and not req.null_mx:
        terms.append("mx")
    for ip in req.ips:
        try:
            net = ipaddress.ip_network(ip, strict=False)
        except ValueError:
            raise UsageError(f"--ip {ip!r}: expected an IPv4/IPv6 address or network") from None
        text = str(net.network_address) if net.num_addresses == 1 else str(net)
        terms.append(f"ip{net.version}:{text}")
    terms += [f"include:{check_name(d, '--spf-include')}" for d in req.spf_include]
    lookups = len(req.spf_include) + (1 if "mx" in terms else 0)
    if lookups > SPF_LOOKUP_LIMIT:
        raise UsageError(f"SPF would need {lookups} DNS lookups before its includes' own; "
                         f"the limit is {SPF_LOOKUP_LIMIT} (RFC 7208 4.6.4)")
    terms.append("-all")
    return " ".join(terms)


def _external_rua_notes(domain: str, uris: list[str]) -> list[str]:
    """Report destinations in another organisation need its consent (RFC 7489 7.1)."""
    from publicsuffixlist import PublicSuffixList

    psl = PublicSuffixList()
    org = psl.privatesuffix(domain) or domain
    notes = []
    for uri in uris:
        target = uri.partition("@")[2].split("!")[0].lower().rstrip(".")
        if target and (psl.privatesuffix(target) or target) != org:
            notes.append(f"{target} must publish {domain}._report._dmarc.{target}. TXT "
                         '"v=DMARC1" to accept these reports')
    return notes


def recommend(req: RecordsRequest) -> Recommendation:
    """The records for `req.domain`; UsageError for inconsistent input."""
    domain = check_domain(req.domain)
    apex = dns.name.from_text(domain)
    ttl = req.ttl
    records: list[Record] = []
    notes: list[str] = []
    if req.null_mx:
        if req.mx or req.mta_sts_mode:
            raise UsageError("--null-mx excludes --mx and --mta-sts-mode")
        records.append(Record("mx", _rrset(apex, ttl, "MX", ["0 ."])))
    elif req.mx:
        hosts = list(dict.fromkeys(check_domain(h) for h in req.mx))
        records.append(Record("mx", _rrset(apex, ttl, "MX", [
            f"{10 * (i + 1)} {h}." for i, h in enumerate(hosts)])))
    records.append(Record("spf", _txt(apex, ttl, spf_text(req))))
    for selector, key_txt in req.dkim:
        records.append(Record("dkim", _txt(record_name(domain, check_selector(selector)), ttl,
                                           key_txt)))
    if req.dmarc_policy not in DMARC_POLICIES:
        raise UsageError(f"--dmarc-policy {req.dmarc_policy}: expected "
                         f"{', '.join(DMARC_POLICIES)}")
    policy = "reject" if req.null_mx else req.dmarc_policy
    rua = [_uri(u, "--rua", ("mailto:",)) for u in req.rua]
    dmarc = f"v=DMARC1; p={policy}" + (f"; rua={','.join(rua)}" if rua else "")
    records.append(Record("dmarc", _txt(dns.name.from_text(f"_dmarc.{domain}"), ttl, dmarc)))
    notes += _external_rua_notes(domain, rua)
    policy_text: str | None = None
    if req.mta_sts_mode is not None:
        policy_text = build_policy(req.mta_sts_mode, [check_mx_pattern(h) for h in req.mx],
                            req.mta_sts_max_age)
        records.append(Record("mta-sts", _txt(dns.name.from_text(f"_mta-sts.{domain}"), ttl,
                                              f"v=STSv1; id={policy_id(policy_text)}")))
        notes.append(f"serve the MTA-STS policy (mailops mta-sts policy) at https://mta-sts."
                     f"{domain}/.well-known/mta-sts.txt; mta-sts.{domain} needs an address")
    if req.tlsrpt_rua:
        uris = [_uri(u, "--tlsrpt-rua", ("mailto:", "https:")) for u in req.tlsrpt_rua]
        records.append(Record("tls-rpt", _txt(dns.name.from_text(f"_smtp._tls.{domain}"), ttl,
                                              f"v=TLSRPTv1; rua={','.join(uris)}")))
    return Recommendation(domain, records, notes, policy_text)
