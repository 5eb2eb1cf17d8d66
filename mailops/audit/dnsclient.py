"""The audit's DNS layer: dnspython's async resolver, one answer cache per run.

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

import dns.asyncresolver
import dns.exception
import dns.flags
import dns.name
import dns.nameserver
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
    domains including the same SPF provider ask for it once.
    """

    def __init__(self, nameservers: list[str] | None = None, *, timeout: float = 5.0,
                 concurrency: int = 100) -> None:
        if nameservers:
            self.resolver = dns.asyncresolver.Resolver(configure=False)
            self.resolver.nameservers = [
                dns.nameserver.Do53Nameserver(ip, port)
                for ip, port in map(parse_nameserver, nameservers)]
        else:
            self.resolver = dns.asyncresolver.Resolver()
        self.resolver.lifetime = timeout
        self.resolver.timeout = max(timeout / 3, 0.5)  # per try: leaves room for a retry
        self.resolver.use_edns(0, 0, 1232)
        # DNSSEC lookups: DO to get signatures, CD so a validating resolver hands over
        # bogus data too (we validate ourselves and say what is broken)
        self.dnssec_resolver = dns.asyncresolver.Resolver(configure=False)
        self.dnssec_resolver.nameservers = self.resolver.nameservers
        self.dnssec_resolver.lifetime = self.resolver.lifetime
        self.dnssec_resolver.timeout = self.resolver.timeout
        self.dnssec_resolver.use_edns(0, dns.flags.DO, 1232)
        self.dnssec_resolver.flags = dns.flags.RD | dns.flags.CD
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
            except dns.exception.DNSException as exc:
                return Answer(name, rdtype, Status.absent, error=f"invalid name: {exc}")
            try:
                resolver = self.dnssec_resolver if dnssec else self.resolver
                ans = await resolver.resolve(qname, rdtype, search=False,
                                             raise_on_no_answer=False)
            except dns.resolver.NXDOMAIN:
                return Answer(name, rdtype, Status.absent, error="NXDOMAIN")
            except dns.resolver.NoNameservers as exc:
                return Answer(name, rdtype, Status.failed, error=_servfail_text(exc))
            except dns.exception.Timeout:
                return Answer(name, rdtype, Status.failed, error="timeout")
            except dns.exception.DNSException as exc:
                return Answer(name, rdtype, Status.failed, error=type(exc).__name__)
        canonical = ans.canonical_name.to_text(omit_final_dot=True)
        alias = canonical if canonical.lower() != name else None
        if ans.rrset is None:
            return Answer(name, rdtype, Status.absent, canonical=alias, error="no records")
        rrsig = None
        if dnssec:
            with contextlib.suppress(KeyError):
                rrsig = ans.response.find_rrset(ans.response.answer, ans.rrset.name,
                                                ans.rrset.rdclass, dns.rdatatype.RRSIG,
                                                ans.rrset.rdtype)
        return Answer(name, rdtype, Status.ok, tuple(ans.rrset), alias, rrset=ans.rrset,
                      rrsig=rrsig)


def _servfail_text(exc: dns.resolver.NoNameservers) -> str:
    """'SERVFAIL', 'REFUSED'... from the per-server errors dnspython collected."""
    errors = exc.kwargs.get("errors") or []
    texts = sorted({str(e[3]) for e in errors if len(e) > 3 and e[3]})
    return ", ".join(texts) if texts else "no nameserver answered"

