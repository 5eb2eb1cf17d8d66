"""SMTP replies as named constants (RFC 5321 codes with RFC 3463 enhanced codes)."""

from __future__ import annotations

import re

OK = "250 2.0.0 OK"
HELO_OK = "250 {hostname}"  # RFC 2034: no enhanced code on HELO/EHLO replies
SENDER_OK = "250 2.1.0 OK"
RECIPIENT_OK = "250 2.1.5 OK"
QUEUED = "250 2.0.0 OK: stored as {id}"
BAD_ADDRESS = "553 5.1.3 Malformed address: control characters are not allowed"
TOO_MANY_RECIPIENTS = "452 4.5.3 Too many recipients"
STORE_FAILED = "451 4.3.0 Temporary failure storing the message; try again"
INTERNAL_ERROR = "451 4.3.0 Internal error; try again"
SHUTTING_DOWN = "421 4.3.2 Service shutting down"
IDLE_TIMEOUT = "421 4.4.2 Idle timeout, closing connection"
AUTH_OK = "235 2.7.0 Authentication successful"
AUTH_DISABLED = "502 5.5.1 AUTH not available (this catcher runs with --auth none)"
CHAOS = "{code} {enhanced} Chaos mode: injected failure at {stage}"

# Default enhanced code per basic code, for replies aiosmtpd writes without one.
_ENHANCED_BY_CODE = {
    "211": "2.0.0", "214": "2.0.0", "221": "2.0.0", "235": "2.7.0", "250": "2.0.0",
    "251": "2.1.5", "252": "2.5.0", "421": "4.3.0", "450": "4.2.0", "451": "4.3.0",
    "452": "4.3.1", "454": "4.7.0", "500": "5.5.2", "501": "5.5.4", "502": "5.5.1",
    "503": "5.5.1", "504": "5.5.4", "530": "5.7.0", "534": "5.7.9", "535": "5.7.8",
    "538": "5.7.11", "550": "5.1.1", "551": "5.1.6", "552": "5.3.4", "553": "5.1.3",
    "554": "5.0.0", "555": "5.5.4",
}
_HAS_ENHANCED = re.compile(r"^\d{3}[ -][245]\.\d{1,3}\.\d{1,3}\b")
_REPLY = re.compile(r"^(\d{3})([ -])(.*)$", re.S)
# Replies echo client input (an unknown command's name); never echo control bytes.
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def enhanced_for(code: int) -> str:
    """The generic enhanced status code for a basic reply code."""
    return _ENHANCED_BY_CODE.get(str(code), f"{str(code)[0]}.0.0")


def with_enhanced(reply: str) -> str:
    """Add an enhanced status code to a 2xx/4xx/5xx reply that lacks one."""
    if _HAS_ENHANCED.match(reply):
        return reply
    m = _REPLY.match(reply)
    if not m or m.group(1)[0] not in "245":
        return reply
    code, sep, text = m.groups()
    return f"{code}{sep}{enhanced_for(int(code))} {text}"


def has_control(text: str) -> bool:
    """Whether text holds control characters (NUL, CR, ESC...)."""
    return _CONTROL.search(text) is not None


def printable(reply: str) -> str:
    """A reply with control characters (NUL, bare CR...) replaced by '?'."""
    return _CONTROL.sub("?", reply)
