"""Tag=value lists (DKIM, DMARC, TLS-RPT, BIMI, MTA-STS TXT records), parsed by dkimpy."""

from __future__ import annotations

import dkim.util


class TagSyntaxError(ValueError):
    """The record is not a well-formed tag=value list."""


def parse_tags(text: str) -> dict[str, str]:
    """`"v=DMARC1; p=reject"` -> `{"v": "DMARC1", "p": "reject"}` (RFC 6376 3.2 syntax).

    Tag names keep their case (DMARC and DKIM tags are lower case by definition, so a
    `P=reject` is reported as an unknown tag rather than silently accepted).
    """
    try:
        parsed = dkim.util.parse_tag_value(text.encode("utf-8", "replace"))
    except dkim.util.DuplicateTag as exc:
        raise TagSyntaxError(f"duplicate tag {_text(exc.args[0])}") from None
    except dkim.util.InvalidTagSpec as exc:
        raise TagSyntaxError(f"malformed tag {_text(exc.args[0])!r}") from None
    return {_text(k): _text(v) for k, v in parsed.items()}


def _text(value: object) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)
