"""The MTA-STS policy file (RFC 8461 section 3.2) served at
`https://mta-sts.DOMAIN/.well-known/mta-sts.txt`, and the `id=` of its TXT record."""

from __future__ import annotations

import hashlib
import re

from mailops.errors import UsageError

MODES = ("enforce", "testing", "none")
MAX_AGE_LIMIT = 31557600  # RFC 8461 3.2: at most one year
DEFAULT_MAX_AGE = 604800  # one week
_HOST = re.compile(r"(\*\.)?([a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+"
                   r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?")


def check_mx_pattern(pattern: str) -> str:
    """An `mx:` pattern lower-cased without a final dot: a host or `*.domain` (RFC 8461 4.1)."""
    text = pattern.strip().rstrip(".").lower()
    if not _HOST.fullmatch(text):
        raise UsageError(f"invalid MX pattern {pattern!r}: expected a host name or *.domain")
    return text


def build_policy(mode: str, mx: list[str], max_age: int = DEFAULT_MAX_AGE) -> str:
    """The policy text: version, mode, one `mx:` line per pattern, max_age (LF endings,
    which RFC 8461 allows alongside CRLF)."""
    if mode not in MODES:
        raise UsageError(f"--mode {mode}: expected one of {', '.join(MODES)}")
    if not 0 <= max_age <= MAX_AGE_LIMIT:
        raise UsageError(f"--max-age {max_age}: expected 0..{MAX_AGE_LIMIT} seconds")
    patterns = list(dict.fromkeys(check_mx_pattern(p) for p in mx))
    if not patterns and mode != "none":
        raise UsageError(f"mode {mode} needs at least one MX host (--mx)")
    lines = ["version: STSv1", f"mode: {mode}", *(f"mx: {p}" for p in patterns),
             f"max_age: {max_age}"]
    return "\n".join(lines) + "\n"


def policy_id(policy: str) -> str:
    """The `id=` for `_mta-sts` TXT: derived from the policy text, so it changes exactly
    when the policy does (RFC 8461 3.1: 1-32 alphanumerics)."""
    return hashlib.sha256(policy.encode("utf-8")).hexdigest()[:20]
