"""The catalogue of finding codes: one constant per code, each documented in docs/checks.md.

Codes are stable identifiers (scripts match on them, `--ignore` takes them); the
severity a check gives lives with the check, because one code can be an error
in one situation and a warning in another (`spf.plus_all` for `+all` / `?all`).
"""

from __future__ import annotations

DNS_LOOKUP_FAILED = "dns.lookup_failed"
DNS_NXDOMAIN = "dns.nxdomain"

MX_MISSING = "mx.missing"
MX_MISSING_IMPLICIT = "mx.missing_implicit"
MX_NULL_MX = "mx.null_mx"
MX_NULL_MX_MIXED = "mx.null_mx_mixed"
MX_CNAME_TARGET = "mx.cname_target"
MX_IP_LITERAL = "mx.ip_literal"
MX_NO_ADDRESS = "mx.no_address"
MX_DUPLICATE = "mx.duplicate"
MX_NO_IPV6 = "mx.no_ipv6"

SPF_MISSING = "spf.missing"
SPF_MULTIPLE_RECORDS = "spf.multiple_records"
SPF_SYNTAX = "spf.syntax"
SPF_LOOKUP_LIMIT = "spf.lookup_limit"
SPF_VOID_LOOKUPS = "spf.void_lookups"
SPF_VOID_TERM = "spf.void_term"
SPF_LOOP = "spf.loop"
SPF_INCLUDE_MISSING = "spf.include_missing"
SPF_PLUS_ALL = "spf.plus_all"
SPF_SOFTFAIL_ALL = "spf.softfail_all"
SPF_NO_ALL = "spf.no_all"
SPF_PTR_MECHANISM = "spf.ptr_mechanism"
SPF_TOO_LONG = "spf.too_long"
SPF_RR_TYPE = "spf.rr_type"

DMARC_MISSING = "dmarc.missing"
DMARC_MULTIPLE_RECORDS = "dmarc.multiple_records"
DMARC_SYNTAX = "dmarc.syntax"
DMARC_POLICY_NONE = "dmarc.policy_none"
DMARC_PCT_PARTIAL = "dmarc.pct_partial"
DMARC_SUBDOMAIN_POLICY_NONE = "dmarc.subdomain_policy_none"
DMARC_STRICT_ALIGNMENT = "dmarc.strict_alignment"
DMARC_INHERITED = "dmarc.inherited"
DMARC_NO_RUA = "dmarc.no_rua"
DMARC_EXTERNAL_RUA_UNAUTHORIZED = "dmarc.external_rua_unauthorized"
DMARC_RUA_NO_MX = "dmarc.rua_no_mx"
DMARC_MANY_RUA = "dmarc.many_rua"
DMARC_RUA_SIZE_LIMIT = "dmarc.rua_size_limit"

DKIM_MISSING = "dkim.missing"
DKIM_NOT_FOUND = "dkim.not_found"
DKIM_SYNTAX = "dkim.syntax"
DKIM_KEY_TOO_SHORT = "dkim.key_too_short"
DKIM_WEAK_KEY = "dkim.weak_key"
DKIM_TESTING_MODE = "dkim.testing_mode"
DKIM_REVOKED = "dkim.revoked"
DKIM_SHA1_ONLY = "dkim.sha1_only"

MTA_STS_MISSING = "mta_sts.missing"
MTA_STS_SYNTAX = "mta_sts.syntax"
MTA_STS_POLICY_UNREACHABLE = "mta_sts.policy_unreachable"
MTA_STS_POLICY_SYNTAX = "mta_sts.policy_syntax"
MTA_STS_MODE_TESTING = "mta_sts.mode_testing"
MTA_STS_MODE_NONE = "mta_sts.mode_none"
MTA_STS_MAX_AGE_SHORT = "mta_sts.max_age_short"
MTA_STS_MX_MISMATCH = "mta_sts.mx_mismatch"
TLSRPT_MISSING = "tlsrpt.missing"
TLSRPT_SYNTAX = "tlsrpt.syntax"
BIMI_MISSING = "bimi.missing"
BIMI_SYNTAX = "bimi.syntax"
BIMI_DMARC_NOT_ENFORCING = "bimi.dmarc_not_enforcing"
BIMI_NO_CERTIFICATE = "bimi.no_certificate"

DNSSEC_UNSIGNED = "dnssec.unsigned"
DNSSEC_BOGUS = "dnssec.bogus"

PTR_MISSING = "ptr.missing"
PTR_FCRDNS_MISMATCH = "ptr.fcrdns_mismatch"

SMTP_UNREACHABLE = "smtp.unreachable"
SMTP_BANNER = "smtp.banner"
SMTP_NO_STARTTLS = "smtp.no_starttls"
SMTP_TLS_FAILED = "smtp.tls_failed"
SMTP_TLS_OLD = "smtp.tls_old"
SMTP_CERT_UNTRUSTED = "smtp.cert_untrusted"
SMTP_CERT_NAME_MISMATCH = "smtp.cert_name_mismatch"
SMTP_CERT_EXPIRED = "smtp.cert_expired"
SMTP_CERT_EXPIRING = "smtp.cert_expiring"
SMTP_OPEN_RELAY = "smtp.open_relay"

DANE_MISMATCH = "dane.mismatch"
DANE_UNSIGNED = "dane.unsigned"
DANE_UNUSABLE = "dane.unusable"

DNSBL_LISTED = "dnsbl.listed"
DNSBL_UNUSABLE = "dnsbl.unusable"

ALL_CODES: frozenset[str] = frozenset(
    value for name, value in dict(globals()).items()
    if name.isupper() and isinstance(value, str) and "." in value
)
