"""The audit's DNS layer: dnspython's async queries, one answer cache per run.

Three outcomes, never confused: `ok` (records), `absent` (NXDOMAIN or no records of
that type: the domain owner's choice), `failed` (timeout, SERVFAIL, REFUSED,
unreachable servers: we do not know). Checks turn `failed` into a
`dns.lookup_failed` finding and never into "missing".
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import dns.asyncquery
import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.nameserver
import dns.rcode
import dns.rdatatype
import dns.resolver

from mailops.errors import UsageError

from . import codes
from .findings import Finding, error


class Status(StrEnum):
    """What a lookup established."""

    ok = "ok"
    absent = "absent"
    failed = "failed"


@dataclass(frozen=True)
class Answer:
    """The result of one (name, type) lookup."""

    name: str
    rdtype: str
    status: Status
    rdata: tuple[Any, ...] = ()
    canonical: str | None = None  # the CNAME target when the name is an alias
    error: str = ""
    rrset: Any = None  # the dns.rrset.RRset answered (DNSSEC validation needs it whole)
    rrsig: Any = None  # its RRSIG RRset, for lookups made with dnssec=True

    @property
    def ok(self) -> bool:
        """Records were returned."""
        return self.status is Status.ok

    @property
    def failed(self) -> bool:
        """The lookup failed: the answer is unknown."""
        return self.status is Status.failed

    def texts(self) -> list[str]:
        """TXT records, each one's strings joined (RFC 7208 3.3), decoded leniently."""
        return [b"".join(r.strings).decode("utf-8", "replace") for r in self.rdata
                if hasattr(r, "strings")]

    def evidence(self) -> str:
        """One line for a finding's evidence."""
        where = f"{self.name} {self.rdtype}"
        if self.status is Status.failed:
            return f"{where}: lookup failed ({self.error})"
        if self.status is Status.absent:
            return f"{where}: {self.error or 'no records'}"
        alias = f" (via CNAME {self.canonical})" if self.canonical else ""
        return f"{where}{alias}: " + " | ".join(r.to_text() for r in self.rdata)

    def failure(self, context: str) -> Finding:
        """The `dns.lookup_failed` finding for this answer."""
        return error(codes.DNS_LOOKUP_FAILED,
                     f"{context}: the {self.rdtype} lookup for {self.name} failed "
                     f"({self.error}); the result is unknown, not absent",
                     [self.evidence()],
                     "Check that the domain's authoritative servers answer (and that "
                     "its DNSSEC chain is valid), then run the audit again.")


def parse_nameserver(text: str) -> tuple[str, int]:
    """`IP`, `IP:PORT`, `[IPv6]:PORT` or a bare IPv6 address -> (ip, port)."""
    host, port = text.strip(), 53
    if host.startswith("["):
        host, _, rest = host[1:].partition("]")
        if rest:
            if not rest.startswith(":") or not rest[1:].isdigit():
                raise UsageError(f"bad --nameserver {text!r}: expected IP[:PORT]")
            port = int(rest[1:])
    elif host.count(":") == 1:
        host, _, p = host.partition(":")
        if not p.isdigit():
            raise UsageError(f"bad --nameserver {text!r}: expected IP[:PORT]")
        port = int(p)
    try:
        ipaddress.ip_address(host)
    except ValueError:
        raise UsageError(f"bad --nameserver {text!r}: expected an IP address") from None
    if not 0 < port < 65536:
        raise UsageError(f"bad --nameserver {text!r}: port out of range")
    return host, port


class DnsClient:
    """Cached, concurrency-limited lookups for one audit run.

    Concurrent requests for the same (name, type) share one query: a thousand
    domains including the same SPF provider ask for it once. Queries go straight
    through `dns.asyncquery` (UDP, TCP on truncation) rather than the stub resolver:
    a bulk audit is CPU-bound, and the resolver's per-query bookkeeping cost a
    quarter of the CPU time (docs/benchmarks.md, "Domain audit").
    """

    def __init__(self, nameservers: list[str] | None = None, *, timeout: float = 5.0,
                 concurrency: int = 100) -> None:
        if nameservers:
            self.servers = [parse_nameserver(n) for n in nameservers]
        else:
            system = dns.resolver.Resolver()
            self.servers = [(n.address, n.port) for n in system.nameservers
                            if isinstance(n, dns.nameserver.Do53Nameserver)]
        self.lifetime = timeout
        self.per_try = max(timeout / 3, 0.5)  # leaves room for a retry
        self._slots = asyncio.Semaphore(max(1, concurrency))
        self._cache: dict[tuple[str, str, bool], asyncio.Future[Answer]] = {}
        self.queries = 0

    async def query(self, name: str, rdtype: str, *, dnssec: bool = False) -> Answer:
        """Look up `name` `rdtype` (answers cached for the whole run); `dnssec` asks for
        the signatures as well (DO and CD set)."""
        key = (name.lower().rstrip(".") or ".", rdtype.upper(), dnssec)
        cached = self._cache.get(key)
        if cached is None:
            cached = asyncio.get_running_loop().create_future()
            self._cache[key] = cached
            try:
                cached.set_result(await self._lookup(*key))
            except BaseException as exc:  # cancelled: let later callers retry
                del self._cache[key]
                cached.set_exception(exc)
                cached.exception()  # mark retrieved: nobody else may be waiting
                raise
        return await asyncio.shield(cached)

    async def _lookup(self, name: str, rdtype: str, dnssec: bool) -> Answer:
        async with self._slots:
            self.queries += 1
            try:
                qname = dns.name.from_text(name)
                qtype = dns.rdatatype.from_text(rdtype)
            except dns.exception.DNSException as exc:
                return Answer(name, rdtype, Status.absent, error=f"invalid name: {exc}")
            try:
                resp = await self._exchange(qname, qtype, dnssec)
            except _Failed as exc:
                return Answer(name, rdtype, Status.failed, error=str(exc))
        if resp.rcode() == dns.rcode.NXDOMAIN:
            return Answer(name, rdtype, Status.absent, error="NXDOMAIN")
        if not isinstance(resp, dns.message.QueryMessage):  # opcode QUERY: always is
            return Answer(name, rdtype, Status.failed, error="not a query response")
        try:
            chain = resp.resolve_chaining()
        except dns.exception.DNSException as exc:  # e.g. a CNAME loop
            return Answer(name, rdtype, Status.failed, error=type(exc).__name__)
        canonical = chain.canonical_name.to_text(omit_final_dot=True)
        alias = canonical if canonical.lower() != name else None
        if chain.answer is None:
            return Answer(name, rdtype, Status.absent, canonical=alias, error="no records")
        rrset = chain.answer
        rrsig = None
        if dnssec:
            with contextlib.suppress(KeyError):
                rrsig = resp.find_rrset(resp.answer, rrset.name, rrset.rdclass,
                                        dns.rdatatype.RRSIG, rrset.rdtype)
        return Answer(name, rdtype, Status.ok, tuple(rrset), alias, rrset=rrset, rrsig=rrsig)

    async def _exchange(self, qname: dns.name.Name, qtype: dns.rdatatype.RdataType,
                        dnssec: bool) -> dns.message.Message:
        """Ask each server in turn until one answers NOERROR or NXDOMAIN. A server that
        answers SERVFAIL/REFUSED (or errors) is not asked again; one that times out is,
        until the lifetime is spent (the stub resolver's rules)."""
        q = dns.message.make_query(qname, qtype, use_edns=0, payload=1232,
                                   want_dnssec=dnssec)
        if dnssec:  # CD: a validating resolver hands over bogus data too (we validate)
            q.flags |= dns.flags.CD
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.lifetime
        servers, errors = list(self.servers), set()
        while servers:
            for server in list(servers):
                remaining = deadline - loop.time()
                if remaining <= 0:
                    raise _Failed("timeout")
                try:
                    resp, _tcp = await dns.asyncquery.udp_with_fallback(
                        q, server[0], timeout=min(self.per_try, remaining), port=server[1])
                except dns.exception.Timeout:
                    continue
                except (OSError, EOFError, dns.exception.DNSException) as exc:
                    errors.add(type(exc).__name__)
                    servers.remove(server)
                    continue
                if resp.rcode() in (dns.rcode.NOERROR, dns.rcode.NXDOMAIN):
                    return resp
                errors.add(dns.rcode.to_text(resp.rcode()))
                servers.remove(server)
        raise _Failed(", ".join(sorted(errors)) or "no nameserver answered")


class _Failed(Exception):
    """No server gave a usable answer; the text says why (timeout, SERVFAIL...)."""
