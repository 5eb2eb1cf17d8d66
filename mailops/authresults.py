"""Authentication-Results (RFC 8601) of a stored message, parsed with `authres`.

The receiving MTA records its SPF, DKIM, DMARC and ARC verdicts in these headers;
the reader and `show --json` list them. A sender can add such a header too, so
each result carries the `authserv_id` that wrote it: only your own MTA's are
evidence, and the topmost header is the last hop's.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from email.parser import BytesHeaderParser
from email.policy import compat32

import authres

from mailops.mime import clean

_PARSER = BytesHeaderParser(policy=compat32)  # headers only: no body parse, no decoding


@dataclass(frozen=True)
class AuthResult:
    """One method's verdict from one Authentication-Results header."""

    authserv_id: str  # who wrote it (e.g. mx.example.net)
    method: str  # spf, dkim, dmarc, arc, ... ("?" when the header did not parse)
    result: str  # pass, fail, softfail, none, ... ("unparsable")
    detail: str  # properties as written: header.from=example.org smtp.mailfrom=...

    def as_dict(self) -> dict[str, str]:
        """The JSON form (`show --json`)."""
        return asdict(self)


def auth_results(raw: bytes) -> list[AuthResult]:
    """Every result of every Authentication-Results header, topmost header first."""
    out: list[AuthResult] = []
    for value in _PARSER.parsebytes(raw).get_all("Authentication-Results") or []:
        text = " ".join(str(value).split())  # unfolded
        try:
            header = authres.AuthenticationResultsHeader.parse_value(text)
        except Exception:  # authres raises its own errors and ValueError: keep the text
            out.append(AuthResult("", "?", "unparsable", clean(text)[:300]))
            continue
        for res in header.results:
            detail = " ".join(f"{p.type}.{p.name}={p.value}" for p in res.properties)
            out.append(AuthResult(clean(str(header.authserv_id)), clean(str(res.method)),
                                  clean(str(res.result)), clean(detail)))
    return out
