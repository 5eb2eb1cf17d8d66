"""Every finding code is documented, and checks use the catalogue's constants."""

from __future__ import annotations

import re

from conftest import ROOT

from mailops.audit import codes

AREAS = r"(?:dns|mx|spf|dmarc|dkim|mta_sts|tlsrpt|bimi|dnssec|ptr|smtp|dnsbl|dane)"


def test_every_code_is_documented_in_checks_md() -> None:
    text = (ROOT / "docs" / "checks.md").read_text()
    headings = set(re.findall(r"^### `([a-z_]+\.[a-z_0-9]+)`$", text, re.M))
    assert codes.ALL_CODES - headings == set(), "document these in docs/checks.md"
    assert headings - codes.ALL_CODES == set(), "documented but never emitted"


def test_checks_emit_codes_only_through_the_catalogue() -> None:
    """A code written as a string literal in a check would bypass the documented list."""
    literal = re.compile(rf"[\"']{AREAS}\.[a-z_]+[\"']")
    for path in sorted((ROOT / "mailops" / "audit").glob("*.py")):
        if path.name == "codes.py":
            continue
        assert not literal.findall(path.read_text()), path.name
    source = (ROOT / "mailops" / "audit" / "codes.py").read_text()
    constants = re.findall(rf"^[A-Z_0-9]+ = \"({AREAS}\.[a-z_0-9]+)\"$", source, re.M)
    assert set(constants) == codes.ALL_CODES


def test_issue_catalogue_names_are_used_exactly() -> None:
    required = {
        "spf.missing", "spf.lookup_limit", "spf.void_lookups", "spf.multiple_records",
        "spf.syntax", "spf.plus_all", "spf.softfail_all", "spf.ptr_mechanism",
        "dmarc.missing", "dmarc.multiple_records", "dmarc.syntax", "dmarc.policy_none",
        "dmarc.pct_partial", "dmarc.external_rua_unauthorized", "dkim.key_too_short",
        "dkim.weak_key", "dkim.testing_mode", "dkim.revoked", "mx.missing_implicit",
        "mx.null_mx", "mx.cname_target", "mx.no_address", "mta_sts.missing",
        "tlsrpt.missing", "tlsrpt.syntax", "bimi.missing", "dns.lookup_failed",
    }
    assert required <= codes.ALL_CODES
