"""RFC 2136 dynamic updates of one TXT RRset, signed with TSIG, sent with dnspython to the
zone's primary server; and finding the zone a name belongs to."""

from __future__ import annotations

import dns.exception
import dns.name
import dns.query
import dns.rcode
import dns.resolver
import dns.update

from mailops.dkim.keys import txt_rdata
from mailops.dkim.lookup import Nameserver, make_resolver
from mailops.dkim.tsig import TsigKey
from mailops.errors import DkimRotateError


def find_zone(name: dns.name.Name, nameserver: Nameserver, timeout: float = 5.0) -> dns.name.Name:
    """The apex of the zone holding `name`, as `nameserver` serves it (its SOA)."""
    try:
        return dns.resolver.zone_for_name(name, resolver=make_resolver(nameserver, timeout))
    except dns.exception.DNSException as exc:
        raise DkimRotateError(f"cannot find the zone of {name} at {nameserver}: {exc}; "
                              "pass --zone") from None


def replace_txt(zone: dns.name.Name, name: dns.name.Name, text: str, ttl: int,
                nameserver: Nameserver, key: TsigKey, timeout: float = 10.0) -> None:
    """Make `text` the only TXT record at `name` (delete-then-add in one update, so
    repeating it changes nothing)."""
    update = dns.update.UpdateMessage(zone, keyring=key.keyring(), keyname=key.keyname,
                                      keyalgorithm=key.algorithm)
    update.replace(name, ttl, txt_rdata(text))
    try:
        response = dns.query.tcp(update, nameserver.ip, timeout=timeout, port=nameserver.port)
    except (dns.exception.DNSException, OSError) as exc:
        raise DkimRotateError(f"dynamic update of {name} at {nameserver} failed: {exc}") from None
    rcode = response.rcode()
    if rcode != dns.rcode.NOERROR:
        raise DkimRotateError(f"{nameserver} refused the update of {name}: "
                              f"{dns.rcode.to_text(rcode)} (is the TSIG key allowed to update "
                              f"{zone}?)")
