"""mailops' SMTP policy as aiosmtpd handler hooks, plus a thin protocol subclass.

The protocol (aiosmtpd's SMTP) parses commands; `CatcherHandler` decides: accept
any recipient up to a limit, inject chaos failures, and store each message
durably before replying 250. Nothing is ever relayed.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from aiosmtpd.smtp import SMTP, AuthResult, Envelope, Session

from mailops.smtp import codes
from mailops.smtp.chaos import Chaos
from mailops.smtp.logfmt import event
from mailops.smtp.writer import GroupCommitWriter
from mailops.store import Incoming


def _peer(session: Session) -> str:
    peer = session.peer
    if isinstance(peer, tuple) and len(peer) >= 2:
        host = str(peer[0])
        return f"[{host}]:{peer[1]}" if ":" in host else f"{host}:{peer[1]}"
    return str(peer)


class CatcherHandler:
    """Accept mail for any recipient and store it; never relay."""

    def __init__(self, writer: GroupCommitWriter, *, max_recipients: int, auth: str,
                 chaos: Chaos) -> None:
        self.writer = writer
        self.max_recipients = max_recipients
        self.auth = auth
        self.chaos = chaos

    async def handle_HELO(self, server: SMTP, session: Session, envelope: Envelope,
                          hostname: str) -> str:
        if (fail := self.chaos.fire("helo")) is not None:
            return fail
        session.host_name = hostname
        return f"250 {server.hostname}"

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
        if (fail := self.chaos.fire("mail")) is not None:
            return fail
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 2.1.0 OK"

    async def handle_RCPT(self, server: SMTP, session: Session, envelope: Envelope,
                          address: str, rcpt_options: list[str]) -> str:
        if (fail := self.chaos.fire("rcpt")) is not None:
            return fail
        if len(envelope.rcpt_tos) >= self.max_recipients:
            return codes.TOO_MANY_RECIPIENTS
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(rcpt_options)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        if (fail := self.chaos.fire("data")) is not None:
            return fail
        raw = envelope.original_content or b""
        item = Incoming(raw=raw, mail_from=envelope.mail_from, rcpt_to=list(envelope.rcpt_tos),
                        peer=_peer(session))
        try:
            msg_id = await self.writer.submit(item)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            event("store_failed", peer=item.peer, size=len(raw), error=str(exc))
            return codes.STORE_FAILED
        stats = getattr(server, "stats", None)
        if isinstance(stats, dict):
            stats["messages"] += 1
            stats["bytes"] += len(raw)
        event("message", id=msg_id, peer=item.peer, mail_from=envelope.mail_from,
              rcpt=len(envelope.rcpt_tos), size=len(raw))
        return codes.QUEUED.format(id=msg_id)

    async def handle_exception(self, error: Exception) -> str:
        event("session_error", error=f"{type(error).__name__}: {error}")
        return "451 4.3.0 Internal error; try again"


def accept_any_login(server: SMTP, session: Session, envelope: Envelope, mechanism: str,
                     auth_data: Any) -> AuthResult:
    """`--auth any`: every AUTH PLAIN/LOGIN succeeds (a catcher has no accounts yet)."""
    return AuthResult(success=True, auth_data=auth_data)


class MailopsSMTP(SMTP):
    """aiosmtpd's protocol with enhanced status codes, chaos at connect and session logs."""

    def __init__(self, handler: CatcherHandler, **kwargs: Any) -> None:
        super().__init__(handler, **kwargs)
        self._chaos = handler.chaos
        self._plain_reply = False
        self.stats: dict[str, Any] = {"messages": 0, "bytes": 0}
        self._started = time.monotonic()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        if (fail := self._chaos.fire("connect")) is not None:
            assert isinstance(transport, asyncio.WriteTransport)
            transport.write(fail.encode() + b"\r\n")
            transport.close()

    def connection_lost(self, error: Exception | None) -> None:
        session = self.session
        if session is not None:
            event("session", peer=_peer(session), helo=session.host_name,
                  tls=session.ssl is not None, auth=bool(session.authenticated),
                  messages=self.stats["messages"], bytes=self.stats["bytes"],
                  seconds=round(time.monotonic() - self._started, 3))
        super().connection_lost(error)

    async def push(self, status: Any) -> None:
        if isinstance(status, str) and not self._plain_reply and not status.startswith("220"):
            status = codes.with_enhanced(status)
        await super().push(status)

    # RFC 2034: replies to EHLO and HELO carry no enhanced codes.
    async def smtp_EHLO(self, hostname: str) -> None:
        self._plain_reply = True
        try:
            await super().smtp_EHLO(hostname)
        finally:
            self._plain_reply = False

    async def smtp_HELO(self, hostname: str) -> None:
        self._plain_reply = True
        try:
            await super().smtp_HELO(hostname)
        finally:
            self._plain_reply = False
