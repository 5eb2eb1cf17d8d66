"""Signing and verifying messages with dkimpy (RSA-SHA256, and Ed25519-SHA256 per
RFC 8463)."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import dkim

from mailops.dkim.keys import dkimpy_private_key
from mailops.errors import DkimError

# relaxed headers survive the re-folding relays do; relaxed body survives
# trailing-whitespace changes.
CANONICALIZATION = (b"relaxed", b"relaxed")


def sign_message(message: bytes, domain: str, selector: str, pem: bytes) -> bytes:
    """The message with a DKIM-Signature header field prepended."""
    privkey, algorithm = dkimpy_private_key(pem)
    try:
        header = dkim.sign(message, selector.encode("ascii"), domain.encode("ascii"), privkey,
                           canonicalize=CANONICALIZATION, signature_algorithm=algorithm)
    except dkim.DKIMException as exc:
        raise DkimError(f"cannot sign: {exc}") from None
    # dkimpy ends the field with CRLF; match the message's own line endings.
    if b"\r\n" not in message[:2000]:
        header = header.replace(b"\r\n", b"\n")
    return bytes(header) + message


@dataclass(frozen=True)
class SignatureResult:
    """The verdict on one DKIM-Signature field."""

    index: int
    domain: str
    selector: str
    algorithm: str
    passed: bool
    reason: str  # why it failed; "" when it passed

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready fields."""
        return asdict(self)


class _Collect(logging.Handler):
    """Keeps dkimpy's log messages: they say why a signature failed."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.errors: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.levelno >= logging.ERROR:
            self.errors.append(record.getMessage())


_TAG = re.compile(rb"(?:^|;)\s*([a-z]+)\s*=\s*([^;]*)")


def _tag(field: bytes, name: bytes) -> str:
    for key, value in _TAG.findall(field):
        if key == name:
            return b"".join(value.split()).decode("ascii", "replace")
    return ""


def verify_message(message: bytes, dnsfunc: Callable[..., bytes | None],
                   minkey: int = 1024) -> list[SignatureResult]:
    """Check every DKIM-Signature of the message (topmost first); an empty list
    when it has none. DNS failures raise DkimError (from `dnsfunc`)."""
    handler = _Collect()
    logger = logging.getLogger("mailops.dkim.verify")
    logger.propagate = False
    logger.setLevel(logging.DEBUG)
    logger.addHandler(handler)
    try:
        checker = dkim.DKIM(message, logger=logger, minkey=minkey)
        fields = [value for name, value in checker.headers
                  if name.lower() == b"dkim-signature"]
        results = []
        for index, field in enumerate(fields):
            handler.errors.clear()
            try:
                passed = bool(checker.verify(idx=index, dnsfunc=dnsfunc))
                reason = "" if passed else (handler.errors[-1] if handler.errors
                                            else "signature does not match")
            except dkim.DKIMException as exc:
                passed, reason = False, str(exc)
            results.append(SignatureResult(index, _tag(field, b"d"), _tag(field, b"s"),
                                           _tag(field, b"a"), passed, reason))
        return results
    finally:
        logger.removeHandler(handler)


def from_domain(message: bytes) -> str | None:
    """The domain of the message's From address (the DKIM `d=` that aligns with DMARC)."""
    from email.parser import BytesHeaderParser
    from email.utils import getaddresses

    headers = BytesHeaderParser().parsebytes(message)
    addresses = getaddresses([str(v) for v in headers.get_all("From", [])])
    for _, address in addresses:
        if "@" in address:
            return address.rpartition("@")[2].lower()
    return None
