"""The SMTP protocol class the daemon instantiates per connection.

`FastSMTP` is `MailopsSMTP` (all policy and behaviour live there) minus costs
aiosmtpd pays on every connection, command and line, which dominate a burst of
short sessions (one connection per message, as Postfix's smtp-source sends)
and the memory taken by a big message:

- its `__init__` builds its command and AUTH tables with `dir()` and
  `inspect.getmembers()` over every attribute of the new instance and of the
  handler (~0.1 ms): `FastSMTP` lets it do so for the first connection of a
  handler and rebuilds the same tables from attribute names for the others;
- `_getaddr` parses MAIL FROM / RCPT TO addresses with the email package's
  header parser and defines a class on every call;
- its `__init__` also lists the handler's attributes and computes the
  signature of its `handle_EHLO` (`FastHandler` makes both cheap);
- DATA is read line by line into a list of bytearrays (one await, two joins
  and ~60 bytes of object overhead per line: 3x a big message's size in RAM).
  `ChunkedData` reads it in buffer-sized pieces instead, with the same replies.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import Callable
from typing import Any, NamedTuple

import aiosmtpd.smtp
from aiosmtpd.smtp import MISSING, SMTP, _AuthMechAttr

from mailops.smtp.handler import CatcherHandler, MailopsSMTP

_DIR_CACHE: dict[type, list[str]] = {}
_ADDR_CACHE: dict[tuple[str, int], tuple[str | None, str | None]] = {}
_ADDR_CACHE_MAX = 4096
_SPLIT_MAX = 1 << 20  # up to this size, a split (a copy) finds long lines fastest
_END = b".\r\n"  # the end of DATA when it starts a line
_aiosmtpd_log = logging.getLogger("mail.log")
_LEVELS: dict[object, int] = {logging.Logger.debug: logging.DEBUG,
                              logging.Logger.info: logging.INFO}
_sanitized_log = aiosmtpd.smtp.sanitized_log


def _sanitized_log_if_enabled(func: Callable[..., None], msg: Any, *args: Any,
                              **kwargs: Any) -> None:
    """aiosmtpd's sanitized_log, skipped when its logger would drop the record."""
    # func is a bound Logger.debug/Logger.info (anything else is passed through).
    level = _LEVELS.get(getattr(func, "__func__", None))
    if level is not None and not func.__self__.isEnabledFor(level):  # type: ignore[attr-defined]
        return
    _sanitized_log(func, msg, *args, **kwargs)


# aiosmtpd (pinned) calls this module global per command line; same output when enabled.
aiosmtpd.smtp.sanitized_log = _sanitized_log_if_enabled


def _first_long_line(data: bytes | bytearray, most: int) -> tuple[int, int] | None:
    """(offset, length) of the first CRLF-delimited line of `data` with more than
    `most` bytes before its CRLF (length without the CRLF), or None."""
    if len(data) <= most:
        return None
    if len(data) <= _SPLIT_MAX and max(map(len, data.split(b"\r\n"))) <= most:
        return None  # the common case, without a Python loop over every line
    find, start = data.find, 0
    while True:
        end = find(b"\r\n", start)
        if end < 0:
            return (start, len(data) - start) if len(data) - start > most else None
        if end - start > most:
            return start, end - start
        start = end + 2


class ChunkedData(SMTP):
    """aiosmtpd's DATA command with the message read in pieces, not line by line.

    Replies, limits and dot-unstuffing are aiosmtpd's (RFC 5321 4.5.2): 552 when
    the data exceeds `data_size_limit`, 500 when a line exceeds
    `line_length_limit`, each only after the final dot, as aiosmtpd does.
    """

    _too_long = "500 Line too long (see RFC5321 4.5.3.1.6)"
    _too_much = "552 Error: Too much mail data"

    @property
    def _most(self) -> int:
        # line_length_limit counts the CRLF (and a stuffed dot) of each line.
        return int(self.line_length_limit) - 2

    def _first_problem(self, data: bytes, limit: int) -> str:
        """The reply aiosmtpd gives for data over the size limit: 500 if, reading line
        by line, it met an over-long line before the total passed the limit."""
        long = _first_long_line(data, self._most)
        if long is None:
            return self._too_much
        offset, length = long
        # aiosmtpd's reader limit flags a line over the limit as soon as it sees
        # it; a slightly long line only once it is counted in the total.
        seen_at = offset if length + 2 > self.line_length_limit + 2 else offset + length + 2
        return self._too_long if seen_at <= limit else self._too_much

    async def smtp_DATA(self, arg: str) -> None:
        if self._decode_data or "DATA" not in self._handle_hooks:
            await super().smtp_DATA(arg)  # configurations mailops does not use
            return
        if await self.check_helo_needed():
            return
        if await self.check_auth_needed("DATA"):
            return
        assert self.envelope is not None
        if not self.envelope.rcpt_tos:
            await self.push("503 Error: need RCPT command")
            return
        if arg:
            await self.push("501 Syntax: DATA")
            return
        await self.push("354 End data with <CR><LF>.<CR><LF>")
        try:
            data = await self._read_data()
        except asyncio.CancelledError:
            _aiosmtpd_log.info("Connection lost during DATA")
            self._writer.close()
            raise
        if data is None:  # the client went away before the final dot
            return
        if isinstance(data, str):
            await self.push(data)
            self._set_post_data_state()  # type: ignore[no-untyped-call]
            return
        self.envelope.content = data
        self.envelope.original_content = data
        status = await self._call_handler_hook("DATA")
        self._set_post_data_state()  # type: ignore[no-untyped-call]
        await self.push("250 OK" if status is MISSING else status)

    async def _read_data(self) -> bytes | str | None:
        """The unstuffed message, an error reply, or None if the connection ended."""
        reader = self._reader
        limit = self.data_size_limit
        # One growing buffer: a list of pieces would leave them all in the heap
        # beside the joined copy (RSS 2x a big message for good).
        buf = bytearray()
        size = 0
        error: str | None = None
        tail = b"\r\n"  # the last two bytes read: the data starts at a line start
        while True:
            try:
                piece = await reader.readuntil(_END)
                found = True
            except asyncio.LimitOverrunError as exc:
                # No ".\r\n" within the reader's limit: take what cannot be part of one.
                piece = await reader.readexactly(exc.consumed)
                found = False
            except asyncio.IncompleteReadError:
                return None
            if found:
                before = piece[-5:-3] if len(piece) >= 5 else (tail + piece[:-3])[-2:]
                if before == b"\r\n":  # ".\r\n" at a line start: the end
                    piece = piece[:-3]
            else:
                before = b""
            size += len(piece)
            if limit and size > limit:
                if error is None:
                    error = self._first_problem(bytes(buf) + piece, limit)
                buf = bytearray()  # keep reading to the end, but keep nothing
            else:
                buf += piece
            if before == b"\r\n":
                break
            tail = (tail + piece)[-2:] if len(piece) < 2 else piece[-2:]
        if error is not None:
            return error
        if _first_long_line(buf, self._most) is not None:
            return self._too_long
        if buf[:1] == b".":
            del buf[0]
        if b"\r\n." in buf:
            buf = buf.replace(b"\r\n.", b"\r\n")
        data = bytes(buf)
        del buf  # before the handler runs: the message is now held once
        return data


class _Tables(NamedTuple):
    """What aiosmtpd's __init__ derives by introspection, as attribute names."""

    smtp: tuple[tuple[str, str], ...]  # command -> smtp_* method name
    auth: tuple[tuple[str, str, bool], ...]  # mechanism -> (method name, on the protocol?)
    hooks: dict[str, Any]  # the handler's bound handle_* hooks
    ehlo: str | None


# Per (protocol class, handler, excluded AUTH mechanisms): the first connection
# runs aiosmtpd's introspection as is; later ones rebuild its result from this.
_TABLES: dict[tuple[type, int, tuple[str, ...]], tuple[object, _Tables]] = {}
_introspection_off = False  # set while a later connection runs aiosmtpd's __init__


def _method_name(obj: object, method: Any) -> str | None:
    """The attribute of obj that gives this bound method, if it is a plain one."""
    name = getattr(method, "__name__", None)
    if name is None or getattr(method, "__self__", None) is not obj:
        return None
    same = getattr(getattr(obj, name, None), "__func__", None)
    return name if same is not None and same is getattr(method, "__func__", None) else None


def _record(proto: SMTP, handler: object) -> _Tables | None:
    """aiosmtpd's tables of this (first) connection as names; None if that cannot
    be done faithfully (then every connection keeps the full introspection)."""
    smtp: list[tuple[str, str]] = []
    for command, method in proto._smtp_methods.items():
        name = _method_name(proto, method)
        if name is None:
            return None
        smtp.append((command, name))
    auth: list[tuple[str, str, bool]] = []
    for mechanism, (method, builtin) in proto._auth_methods.items():
        name = _method_name(proto if builtin else handler, method)
        if name is None:
            return None
        auth.append((mechanism, name, builtin))
    return _Tables(tuple(smtp), tuple(auth), dict(proto._handle_hooks),
                   proto._ehlo_hook_ver)


class FastSMTP(MailopsSMTP, ChunkedData):
    """MailopsSMTP with aiosmtpd's introspection and address parsing cached and DATA
    read in pieces (MailopsSMTP.smtp_DATA's super() call lands in ChunkedData)."""

    def __init__(self, handler: CatcherHandler, **kwargs: Any) -> None:
        global _introspection_off
        key = (type(self), id(handler), tuple(kwargs.get("auth_exclude_mechanism") or ()))
        cached = _TABLES.get(key)
        tables = cached[1] if cached is not None and cached[0] is handler else None
        if tables is None:
            super().__init__(handler, **kwargs)
            recorded = _record(self, handler)
            if recorded is not None:
                if len(_TABLES) >= 64:  # one entry per handler: only tests make many
                    _TABLES.clear()
                _TABLES[key] = (handler, recorded)
            return
        # aiosmtpd lists every method of this instance and of the handler with
        # inspect.getmembers() and builds a signature, on every connection
        # (~0.1 ms); with __dir__ empty it finds nothing, and the tables are
        # rebuilt here from the first connection's.
        _introspection_off = True
        try:
            super().__init__(handler, **kwargs)
        finally:
            _introspection_off = False
        self._smtp_methods = {command: getattr(self, name) for command, name in tables.smtp}
        self._auth_methods = {
            mechanism: _AuthMechAttr(getattr(self if builtin else handler, name), builtin)
            for mechanism, name, builtin in tables.auth}
        self._handle_hooks = dict(tables.hooks)
        self._ehlo_hook_ver = tables.ehlo

    def __dir__(self) -> list[str]:
        if _introspection_off:
            return []
        # aiosmtpd's __init__ only looks for smtp_* and auth_* names in dir(self);
        # listing just those (once per class) saves getattr() on ~250 attributes.
        cls = type(self)
        names = _DIR_CACHE.get(cls)
        if names is None:
            names = sorted(n for n in object.__dir__(self) if n.startswith(("smtp_", "auth_")))
            _DIR_CACHE[cls] = names
        return list(names)

    def _getaddr(self, arg: str) -> Any:
        # The result depends only on the argument text and local_part_limit, and
        # a burst repeats the same few addresses; the cache is bounded.
        key = (arg, self.local_part_limit)
        hit = _ADDR_CACHE.get(key)
        if hit is None:
            hit = super()._getaddr(arg)
            if len(_ADDR_CACHE) >= _ADDR_CACHE_MAX:
                _ADDR_CACHE.clear()
            _ADDR_CACHE[key] = hit
        return hit


class FastHandler(CatcherHandler):
    """CatcherHandler as aiosmtpd's per-connection introspection finds it cheaply."""

    def __dir__(self) -> list[str]:
        if _introspection_off:
            return []
        # aiosmtpd looks for handle_* hooks and auth_* methods, nothing else.
        cls = type(self)
        names = _DIR_CACHE.get(cls)
        if names is None:
            names = sorted(n for n in object.__dir__(self)
                           if n.startswith(("handle_", "auth_")))
            _DIR_CACHE[cls] = names
        return list(names)

    async def handle_EHLO(self, *args: Any) -> Any:
        return await super().handle_EHLO(*args)

    # aiosmtpd inspects this hook's signature for every connection; a stored
    # one (CatcherHandler's own) spares building it each time.
    handle_EHLO.__signature__ = inspect.signature(  # type: ignore[attr-defined]
        CatcherHandler.handle_EHLO)
