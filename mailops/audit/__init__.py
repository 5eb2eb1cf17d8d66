"""The mail-DNS audit: checks that turn a domain's DNS into findings with stable codes.

    reports = audit(["example.org"], AuditOptions(nameservers=["127.0.0.1:5353"]))

One module per concept: `findings` (the model), `codes` (the catalogue, documented in
docs/checks.md), `dnsclient` (async lookups, one cache per run), and a module per
check: `mx`, `spf`, `dmarc`, `dkim`, `mtasts`, `tlsrpt`, `bimi`, `ptr`, `dnssec`;
`junit` renders CI reports; `runner` ties them up.
"""

from __future__ import annotations

from .dnssec import TrustAnchors, load_trust_anchors, parse_trust_anchors
from .findings import DomainReport, Finding, Severity
from .junit import junit_xml, write_junit
from .runner import (
    AuditOptions,
    audit,
    normalize_domain,
    read_domain_file,
    run_audit,
    unknown_codes,
)

__all__ = ["AuditOptions", "DomainReport", "Finding", "Severity", "TrustAnchors", "audit",
           "junit_xml", "load_trust_anchors", "normalize_domain", "parse_trust_anchors",
           "read_domain_file", "run_audit", "unknown_codes", "write_junit"]
