"""TXT lookups with dnspython: the `dnsfunc` dkimpy calls to fetch a public key, and
direct queries to one (authoritative) server for rotation."""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from dataclasses import dataclass

import dns.exception
import dns.message
import dns.name
import dns.query
import dns.rcode
import dns.rdatatype
import dns.resolver

from mailops.errors import DkimError, UsageError


@dataclass(frozen=True)
class Nameserver:
    """An IP address and port to send DNS queries to."""

    ip: str
    port: int = 53

    def __str__(self) -> str:
        host = f"[{self.ip}]" if ":" in self.ip else self.ip
        return f"{host}:{self.port}"


def parse_nameserver(text: str) -> Nameserver:
    """`IP`, `IP:PORT`, `[IPv6]:PORT` or a bare IPv6 address; UsageError otherwise."""
    value = text.strip()
    host, port = value, "53"
    if value.startswith("["):
        host, sep, rest = value[1:].partition("]")
        if not sep or (rest and not rest.startswith(":")):
            raise UsageError(f"--nameserver {text!r}: expected IP[:PORT]")
        port = rest[1:] or "53"
    elif value.count(":") == 1:
        host, _, port = value.partition(":")
    try:
        ip = str(ipaddress.ip_address(host))
        number = int(port)
    except ValueError:
        raise UsageError(f"--nameserver {text!r}: expected IP[:PORT]") from None
    if not 0 < number < 65536:
        raise UsageError(f"--nameserver {text!r}: port out of range")
    return Nameserver(ip, number)


def make_resolver(nameserver: Nameserver | None, timeout: float = 5.0) -> dns.resolver.Resolver:
    """A resolver asking `nameserver`, or the system's resolvers when None."""
    if nameserver is None:
        res = dns.resolver.Resolver()
    else:
        res = dns.resolver.Resolver(configure=False)
        res.nameservers = [nameserver.ip]
        res.port = nameserver.port
    res.lifetime = timeout
    return res


def dkim_dnsfunc(nameserver: Nameserver | None,
                 timeout: float = 5.0) -> Callable[..., bytes | None]:
    """A dkimpy `dnsfunc`: the first TXT record at a name, its strings joined.

    A missing name or record gives None (dkimpy then fails the signature); a
    timeout or server failure raises DkimError, so "could not look" is never
    reported as "no key".
    """
    res = make_resolver(nameserver, timeout)

    def dnsfunc(name: bytes | str, timeout: float = timeout) -> bytes | None:
        qname = name.decode("ascii", "replace") if isinstance(name, bytes) else name
        try:
            answer = res.resolve(qname, "TXT", lifetime=timeout)
        except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer):
            return None
        except (dns.exception.Timeout, dns.resolver.NoNameservers) as exc:
            raise DkimError(f"key lookup for {qname} failed: {exc}") from None
        except dns.exception.DNSException as exc:
            raise DkimError(f"key lookup for {qname} failed: {exc}") from None
        for rdata in answer:
            return b"".join(rdata.strings)
        return None

    return dnsfunc


def query_txt(nameserver: Nameserver, name: dns.name.Name, timeout: float = 5.0) -> list[str]:
    """The TXT records at `name` straight from one server (strings joined per record);
    an empty list when the name or record does not exist. DkimError on failure."""
    query = dns.message.make_query(name, dns.rdatatype.TXT)
    try:
        response, _ = dns.query.udp_with_fallback(query, nameserver.ip, timeout=timeout,
                                                  port=nameserver.port)
    except (dns.exception.DNSException, OSError) as exc:
        raise DkimError(f"query for {name} TXT at {nameserver} failed: {exc}") from None
    rcode = response.rcode()
    if rcode == dns.rcode.NXDOMAIN:
        return []
    if rcode != dns.rcode.NOERROR:
        raise DkimError(f"query for {name} TXT at {nameserver}: {dns.rcode.to_text(rcode)}")
    out: list[str] = []
    for rrset in response.answer:
        if rrset.name == name and rrset.rdtype == dns.rdatatype.TXT:
            out.extend(b"".join(r.strings).decode("ascii", "replace") for r in rrset)
    return out
