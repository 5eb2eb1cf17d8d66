"""FastSMTP's per-connection shortcuts keep aiosmtpd's behaviour.

The first connection of a handler runs aiosmtpd's own introspection; later ones
rebuild its command, AUTH and hook tables from names. They must be the same
tables (bound to the new connection). aiosmtpd's `sanitized_log` is skipped
only when its logger would drop the record.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import aiosmtpd.smtp
import pytest

from mailops.smtp.chaos import Chaos
from mailops.smtp.handler import accept_any_login
from mailops.smtp.protocol import FastHandler, FastSMTP


def _func(value: Any) -> Any:
    method = value[0] if isinstance(value, tuple) else value  # _AuthMechAttr or a method
    return method.__func__, method.__self__


@pytest.mark.parametrize("auth", ["none", "any"])
def test_later_connections_get_the_same_tables(auth: str) -> None:
    async def build() -> tuple[FastSMTP, FastSMTP, FastHandler]:
        handler = FastHandler(None, max_recipients=10, auth=auth,  # type: ignore[arg-type]
                              chaos=Chaos([], None))
        kwargs: dict[str, Any] = dict(
            hostname="h", auth_require_tls=False, loop=asyncio.get_running_loop(),
            authenticator=accept_any_login if auth == "any" else None,
            auth_exclude_mechanism=["LOGIN", "PLAIN"] if auth == "none" else None)
        return FastSMTP(handler, **kwargs), FastSMTP(handler, **kwargs), handler

    first, later, handler = asyncio.run(build())
    assert later._ehlo_hook_ver == first._ehlo_hook_ver == "new"
    assert later._handle_hooks == first._handle_hooks and "DATA" in later._handle_hooks
    for table in ("_smtp_methods", "_auth_methods"):
        a, b = getattr(first, table), getattr(later, table)
        assert list(a) == list(b)
        for key in a:
            func_a, self_a = _func(a[key])
            func_b, self_b = _func(b[key])
            assert func_a is func_b
            # Bound to its own connection (or to the shared handler), never another's.
            assert (self_a, self_b) in ((first, later), (handler, handler))
    assert "EHLO" in later._smtp_methods and "DATA" in later._smtp_methods
    assert sorted(later._auth_methods) == ([] if auth == "none" else ["LOGIN", "PLAIN"])
    assert all(v.is_builtin == (v.method.__self__ is later)
               for v in later._auth_methods.values())


def test_sanitized_log_still_masks_when_enabled() -> None:
    log = logging.getLogger("mail.log")
    records: list[str] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record.getMessage())

    keep, level = Keep(), log.level
    log.addHandler(keep)
    try:
        log.setLevel(logging.CRITICAL)
        aiosmtpd.smtp.sanitized_log(log.info, "%r", b"AUTH PLAIN c2VjcmV0\r\n")
        assert records == []
        log.setLevel(logging.DEBUG)
        aiosmtpd.smtp.sanitized_log(log.info, "%r", b"AUTH PLAIN c2VjcmV0\r\n")
        assert records == ["b'AUTH PLAIN ********\\r\\n'"]
    finally:
        log.removeHandler(keep)
        log.setLevel(level)
