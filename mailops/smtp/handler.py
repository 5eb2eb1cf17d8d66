"""mailops' SMTP policy as aiosmtpd handler hooks, plus a thin protocol subclass.

The protocol (aiosmtpd's SMTP) parses commands; `CatcherHandler` decides: accept
any recipient up to a limit, inject chaos failures, and store each message
durably before replying 250. Nothing is ever relayed.
"""

from __future__ import annotations

import asyncio
import collections
import itertools
import time
from typing import Any, Protocol

from aiosmtpd.smtp import SMTP, AuthResult, Envelope, Session, syntax

from mailops.smtp import codes
from mailops.smtp.chaos import Chaos
from mailops.smtp.logfmt import event
from mailops.store import Incoming

_SESSION_NUMBERS = itertools.count(1)
_REPLIES: dict[tuple[str, bool], str] = {}  # reply as given -> as sent (MailopsSMTP.push)
_REPLIES_MAX = 512
_session_prefix: str | None = None


def number_sessions(process_id: int | None) -> None:
    """With several SMTP processes, session numbers read `PROCESS.N` (e.g. "2.17") so
    they stay unique across processes; None keeps plain integers (one process)."""
    global _session_prefix, _SESSION_NUMBERS
    _session_prefix = None if process_id is None else str(process_id)
    _SESSION_NUMBERS = itertools.count(1)


def _next_session_number() -> int | str:
    n = next(_SESSION_NUMBERS)
    return n if _session_prefix is None else f"{_session_prefix}.{n}"


class Submitter(Protocol):
    """Where DATA hands a message: resolves to its id once it is durable."""

    async def submit(self, item: Incoming) -> int:
        """Store a message durably; returns its id."""
        ...


def _peer(session: Session) -> str:
    peer = session.peer
    if isinstance(peer, tuple) and len(peer) >= 2:
        host = str(peer[0])
        return f"[{host}]:{peer[1]}" if ":" in host else f"{host}:{peer[1]}"
    return str(peer)


def _clean(text: str) -> str:
    """Text that SQLite and log streams accept.

    aiosmtpd keeps undecodable bytes of commands as lone surrogates; one such
    address would make the whole group-commit batch (other clients' mail too)
    fail to encode, so they become U+FFFD here.
    """
    try:
        return text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    except UnicodeEncodeError:
        return text.encode("utf-8", "replace").decode("utf-8")


class CatcherHandler:
    """Accept mail for any recipient and store it; never relay."""

    def __init__(self, writer: Submitter, *, max_recipients: int, auth: str,
                 chaos: Chaos) -> None:
        self.writer = writer
        self.max_recipients = max_recipients
        self.auth = auth
        self.chaos = chaos
        self.sessions: set[MailopsSMTP] = set()
        self.closing = False

    async def handle_HELO(self, server: SMTP, session: Session, envelope: Envelope,
                          hostname: str) -> str:
        if (fail := self.chaos.fire("helo")) is not None:
            return fail
        session.host_name = hostname
        return codes.HELO_OK.format(hostname=server.hostname)

    async def handle_EHLO(self, server: SMTP, session: Session, envelope: Envelope,
                          hostname: str, responses: list[str]) -> list[str]:
        if (fail := self.chaos.fire("helo")) is not None:
            return [fail]
        session.host_name = hostname
        lines = [r for r in responses[:-1]
                 if not (self.auth == "none" and r.startswith("250-AUTH"))]
        lines += ["250-PIPELINING", "250-ENHANCEDSTATUSCODES", responses[-1]]
        return lines

    async def handle_MAIL(self, server: SMTP, session: Session, envelope: Envelope,
                          address: str, mail_options: list[str]) -> str:
        if self.closing:
            return codes.SHUTTING_DOWN
        if (fail := self.chaos.fire("mail")) is not None:
            return fail
        if codes.has_control(address):
            return codes.BAD_ADDRESS
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return codes.SENDER_OK

    async def handle_RCPT(self, server: SMTP, session: Session, envelope: Envelope,
                          address: str, rcpt_options: list[str]) -> str:
        if (fail := self.chaos.fire("rcpt")) is not None:
            return fail
        if codes.has_control(address):
            return codes.BAD_ADDRESS
        if len(envelope.rcpt_tos) >= self.max_recipients:
            return codes.TOO_MANY_RECIPIENTS
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(rcpt_options)
        return codes.RECIPIENT_OK

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        if (fail := self.chaos.fire("data")) is not None:
            return fail
        raw = envelope.original_content or b""
        mail_from = _clean(envelope.mail_from or "")
        item = Incoming(raw=raw, mail_from=mail_from,
                        rcpt_to=[_clean(r) for r in envelope.rcpt_tos], peer=_peer(session))
        number = getattr(server, "number", None)
        # Waiting for the disk is the server's time, not the client's idleness.
        protocol = server if isinstance(server, MailopsSMTP) else None
        if protocol is not None:
            protocol.hold_timeout()
        try:
            msg_id = await self.writer.submit(item)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            event("store_failed", session=number, peer=item.peer, size=len(raw),
                  error=str(exc))
            return codes.STORE_FAILED
        finally:
            if protocol is not None:
                protocol.resume_timeout()
        stats = getattr(server, "stats", None)
        if isinstance(stats, dict):
            stats["messages"] += 1
            stats["bytes"] += len(raw)
        event("message", session=number, id=msg_id, peer=item.peer, mail_from=mail_from,
              rcpt=len(envelope.rcpt_tos), size=len(raw))
        return codes.QUEUED.format(id=msg_id)

    async def handle_exception(self, error: Exception) -> str:
        event("session_error", error=f"{type(error).__name__}: {error}")
        return codes.INTERNAL_ERROR

    async def shutdown(self, grace: float = 10.0) -> None:
        """Stop taking mail: sessions inside DATA get up to `grace` seconds to get
        their reply (so an accepted message is answered, not cut off), then every
        session is told 421 and closed."""
        self.closing = True
        loop = asyncio.get_running_loop()
        deadline = loop.time() + grace
        while any(s.in_data for s in self.sessions) and loop.time() < deadline:
            await asyncio.sleep(0.02)
        tasks = [t for s in list(self.sessions) if (t := s.close_for_shutdown()) is not None]
        if tasks:
            # Let the cancelled session tasks unwind before the loop closes.
            await asyncio.wait(tasks, timeout=2.0)


def accept_any_login(server: SMTP, session: Session, envelope: Envelope, mechanism: str,
                     auth_data: Any) -> AuthResult:
    """`--auth any`: every AUTH PLAIN/LOGIN succeeds (a catcher has no accounts yet)."""
    return AuthResult(success=True, auth_data=auth_data)


class MailopsSMTP(SMTP):
    """aiosmtpd's protocol with enhanced status codes, chaos at connect and auth,
    an idle timeout that also covers DATA, a 421 on timeout and shutdown, and one
    log line per session."""

    def __init__(self, handler: CatcherHandler, **kwargs: Any) -> None:
        # aiosmtpd keeps these limits on the class and grows them on every EHLO of
        # every session; a per-connection dict keeps sessions independent.
        self.command_size_limits = collections.defaultdict(lambda: SMTP.command_size_limit)
        super().__init__(handler, **kwargs)
        self._catcher = handler
        self._chaos = handler.chaos
        self._plain_reply = False
        self._refusal: str | None = None
        self._tls = False
        self._lost = False
        self._end = "disconnect"
        self.in_data = False
        self.number = _next_session_number()
        self.stats: dict[str, Any] = {"messages": 0, "bytes": 0}
        self._started = time.monotonic()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # STARTTLS calls this again for the TLS layer: that is not a new connection.
        first = self._original_transport is None and self.transport is None
        super().connection_made(transport)
        if first:
            self._catcher.sessions.add(self)
            self._tls = transport.get_extra_info("sslcontext") is not None
            # Decided now, answered by _handle_client instead of the greeting.
            self._refusal = self._chaos.fire("connect")

    async def _handle_client(self) -> None:
        if self._refusal is not None:
            self._end = "chaos"
            await self.push(self._refusal)
            if self.transport is not None:
                self.transport.close()
            return
        await super()._handle_client()

    def data_received(self, data: bytes) -> None:
        # The timeout is per idle period: a long DATA upload that keeps sending
        # bytes is not cut off, a client that stalls mid-DATA is.
        if self.in_data and self.transport is not None:
            self._reset_timeout()
        super().data_received(data)

    def _timeout_cb(self) -> None:
        if self.transport is None:
            return
        self._end = "timeout"
        self._say(codes.IDLE_TIMEOUT)
        self.transport.close()  # what aiosmtpd's _timeout_cb does; connection_lost cleans up

    def hold_timeout(self) -> None:
        """Stop the idle timer while the server, not the client, is busy."""
        if self._timeout_handle is not None:
            self._timeout_handle.cancel()

    def resume_timeout(self) -> None:
        """Restart the idle timer after hold_timeout()."""
        if self.transport is not None and not self._lost:
            self._reset_timeout()

    def close_for_shutdown(self) -> asyncio.Task[None] | None:
        """Say 421 and close; returns the session task to wait for."""
        if self.transport is not None and not self.transport.is_closing():
            self._end = "shutdown"
            self._say(codes.SHUTTING_DOWN)
            self.transport.close()
        return self._handler_coroutine

    def _say(self, reply: str) -> None:
        """Write a reply outside the command loop (timeouts, shutdown)."""
        writer = getattr(self, "_writer", None)
        if writer is not None:
            writer.write(reply.encode() + b"\r\n")

    def connection_lost(self, error: Exception | None) -> None:
        # aiosmtpd calls this itself after a failed STARTTLS, then the transport
        # does again: log and clean up once.
        if self._lost:
            return
        self._lost = True
        self._catcher.sessions.discard(self)
        session = self.session
        if session is not None:
            event("session", session=self.number, peer=_peer(session),
                  helo=_clean(session.host_name) if session.host_name else None,
                  tls=self._tls or session.ssl is not None,
                  auth=bool(session.authenticated), messages=self.stats["messages"],
                  bytes=self.stats["bytes"], seconds=round(time.monotonic() - self._started, 3),
                  end=self._end)
        super().connection_lost(error)

    async def push(self, status: Any) -> None:
        if isinstance(status, str):
            # Seven replies a message, nearly all the same few strings: two regex
            # passes each are worth remembering.
            key = (status, self._plain_reply)
            reply = _REPLIES.get(key)
            if reply is None:
                reply = codes.printable(status)
                if not self._plain_reply and not reply.startswith("220"):
                    reply = codes.with_enhanced(reply)
                if len(_REPLIES) >= _REPLIES_MAX:
                    _REPLIES.clear()
                _REPLIES[key] = reply
            status = reply
        await super().push(status)

    # RFC 2034: replies to EHLO and HELO carry no enhanced codes.
    @syntax("EHLO hostname")
    async def smtp_EHLO(self, hostname: str) -> None:
        self._plain_reply = True
        try:
            await super().smtp_EHLO(hostname)
        finally:
            self._plain_reply = False

    @syntax("HELO hostname")
    async def smtp_HELO(self, hostname: str) -> None:
        self._plain_reply = True
        try:
            await super().smtp_HELO(hostname)
        finally:
            self._plain_reply = False

    @syntax("AUTH <mechanism>")
    async def smtp_AUTH(self, arg: str) -> None:
        if self._catcher.auth == "none":
            await self.push(codes.AUTH_DISABLED)
            return
        if (fail := self._chaos.fire("auth")) is not None:
            await self.push(fail)
            return
        await super().smtp_AUTH(arg)

    @syntax("DATA")
    async def smtp_DATA(self, arg: str) -> None:
        self.in_data = True
        try:
            await super().smtp_DATA(arg)
        finally:
            self.in_data = False

    @syntax("QUIT")
    async def smtp_QUIT(self, arg: str) -> None:
        if not arg:
            self._end = "quit"
        await super().smtp_QUIT(arg)
