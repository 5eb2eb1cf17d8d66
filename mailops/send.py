"""Send one message over SMTP: the engine behind `mailops send` (a swaks-like sender).

Messages are built by mailops.compose and sent with aiosmtplib. The
session is driven stage by stage (connect, EHLO, STARTTLS, AUTH, MAIL, RCPT, DATA)
so every reply lands in a transcript and each failure maps to the `SendError`
exit code of its stage:

    10 connect (also greeting and EHLO), 11 TLS, 12 auth, 13 MAIL FROM,
    14 RCPT TO (only when every recipient is refused), 15 DATA, 16 message build.

Bad options raise `UsageError` (2). Partial recipient refusals are not an error:
the message went to the others; they are reported in `SendResult.refused`.
"""

from __future__ import annotations

import asyncio
import os
import socket
import ssl
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, cast

import aiosmtplib

from mailops.compose import Outgoing
from mailops.errors import ConfigError, SendError, UsageError

if TYPE_CHECKING:
    from mailops.config import Config

PASSWORD_ENV = "MAILOPS_SMTP_PASSWORD"
KEYRING_SERVICE = "mailops"

Security = Literal["plain", "starttls", "tls"]


@dataclass(frozen=True)
class ServerAddress:
    """Where to send: a host name or IP and a port."""

    host: str
    port: int

    def __str__(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"


@dataclass(frozen=True)
class Reply:
    """One SMTP reply: code and text (multi-line replies joined with newlines)."""

    code: int
    text: str

    def __str__(self) -> str:
        return f"{self.code} {_one_line(self.text)}"


@dataclass
class Step:
    """One transcript entry: what was sent at a stage and what came back."""

    stage: str
    command: str
    code: int | None = None
    text: str = ""


@dataclass
class SendOptions:
    """How to reach and talk to the server."""

    server: ServerAddress
    security: Security = "plain"
    insecure: bool = False
    cafile: Path | None = None
    auth_user: str | None = None
    password: str | None = None
    ehlo: str | None = None
    timeout: float = 30.0


@dataclass
class SendResult:
    """What happened: the server's final reply, who was accepted and the transcript."""

    server: str
    message_id: str | None
    mail_from: str
    rcpt_to: list[str]
    accepted: list[str]
    refused: dict[str, Reply]
    reply: Reply
    tls: str | None
    size: int
    transcript: list[Step]

    def to_dict(self) -> dict[str, Any]:
        """The JSON shape of `mailops send --json` (see docs/send.md)."""
        return {
            "ok": True,
            "server": self.server,
            "message_id": self.message_id,
            "envelope": {"mail_from": self.mail_from, "rcpt_to": self.rcpt_to},
            "accepted": self.accepted,
            "refused": [{"address": a, "code": r.code, "text": r.text}
                        for a, r in self.refused.items()],
            "reply": {"code": self.reply.code, "text": self.reply.text},
            "tls": self.tls,
            "size": self.size,
            "transcript": transcript_dicts(self.transcript),
        }


def transcript_dicts(steps: Sequence[Step]) -> list[dict[str, Any]]:
    """Transcript steps as plain dicts for JSON."""
    return [{"stage": s.stage, "command": s.command, "code": s.code, "text": s.text}
            for s in steps]


def _one_line(text: str) -> str:
    return " / ".join(line.strip() for line in text.splitlines() if line.strip())


# --- options -------------------------------------------------------------------------


def default_port(security: Security) -> int:
    """The conventional port: 465 for implicit TLS, 587 for STARTTLS, else 25."""
    return {"tls": 465, "starttls": 587}.get(security, 25)


def parse_server(spec: str, security: Security = "plain") -> ServerAddress:
    """Parse `HOST`, `HOST:PORT` or `[V6]:PORT` (a bare host gets the default port)."""
    text = spec.strip()
    port_s: str | None
    if text.startswith("["):
        host, sep, rest = text[1:].partition("]")
        if not sep or (rest and not rest.startswith(":")):
            host = ""
        port_s = rest[1:] if rest else None
    elif text.count(":") == 1:
        host, _, port_s = text.partition(":")
    else:
        # No colon is a bare host; several colons only make sense as a bare IPv6 address.
        host, port_s = text, None
    ok = bool(host) and not any(c.isspace() for c in host)
    if port_s is not None:
        ok = ok and port_s.isdigit() and 0 < int(port_s) <= 65535
    if not ok:
        raise UsageError(f"--server {spec!r}: expected HOST:PORT, e.g. 127.0.0.1:2525 "
                         "or [::1]:2525")
    return ServerAddress(host, int(port_s) if port_s else default_port(security))


def check_ehlo(name: str) -> str:
    """An EHLO name must be one word of printable characters."""
    if not name or any(c.isspace() or not c.isprintable() for c in name):
        raise UsageError(f"--ehlo {name!r}: expected a host name without spaces")
    return name


# --- the password --------------------------------------------------------------------


def find_password(user: str, environ: Mapping[str, str] | None = None,
                  prompt: Callable[[], str] | None = None) -> str:
    """The SMTP password: $MAILOPS_SMTP_PASSWORD, the OS keyring, then `prompt`.

    The keyring entry is service "mailops", username `user`. `prompt` is only
    given when a person can answer (stdin is a terminal). Raises SendError(AUTH)
    when no source has one.
    """
    env = os.environ if environ is None else environ
    if PASSWORD_ENV in env:
        return env[PASSWORD_ENV]
    import keyring  # lazy: backend discovery is slow and only needed here

    try:
        stored = keyring.get_password(KEYRING_SERVICE, user)
    except Exception:  # backends raise anything (no D-Bus, locked, none): try the next source
        stored = None
    if stored is not None:
        return stored
    if prompt is not None:
        return prompt()
    raise SendError(f"no password for {user}: set {PASSWORD_ENV}, store one with "
                    f"`keyring set {KEYRING_SERVICE} {user}`, or run in a terminal to be asked",
                    exit_code=SendError.AUTH)


def options_from_config(config: Config, *, server: str | None = None,
                        security: Security | None = None, auth_user: str | None = None,
                        cafile: Path | None = None, insecure: bool = False,
                        ehlo: str | None = None,
                        prompt: Callable[[], str] | None = None) -> SendOptions:
    """SendOptions from the `[send]` settings; each argument given wins over its setting
    (the CLI's flags). The password, when a user is set, comes from `find_password`."""
    sec = security if security is not None else config.get_str("send.security").lower()
    if sec not in ("plain", "starttls", "tls"):
        raise ConfigError(f"send.security {sec!r}: expected plain, starttls or tls")
    address = parse_server(server if server is not None else config.get_str("send.server"),
                           cast(Security, sec))
    user = auth_user if auth_user is not None else (config.get_str("send.user") or None)
    ca = cafile if cafile is not None else (Path(config.get_str("send.cafile")).expanduser()
                                            if config.get_str("send.cafile") else None)
    password = find_password(user, prompt=prompt) if user is not None else None
    return SendOptions(server=address, security=cast(Security, sec), cafile=ca,
                       auth_user=user, password=password,
                       timeout=float(config.get_int("send.timeout")), insecure=insecure,
                       ehlo=ehlo)


# --- sending -------------------------------------------------------------------------


def _tls_context(opts: SendOptions) -> ssl.SSLContext:
    try:
        ctx = ssl.create_default_context(
            cafile=str(opts.cafile) if opts.cafile is not None else None)
    except (OSError, ssl.SSLError) as exc:
        raise UsageError(f"--cafile {opts.cafile}: cannot load: {exc}") from None
    if opts.insecure:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    return ctx


class _Session:
    """One SMTP session; each stage records its step and raises SendError on failure."""

    def __init__(self, message: Outgoing, opts: SendOptions, steps: list[Step]) -> None:
        self.message = message
        self.opts = opts
        self.steps = steps
        self.where = str(opts.server)
        self.ehlo_name = opts.ehlo or socket.gethostname() or "localhost"
        tls = _tls_context(opts) if opts.security != "plain" else None
        self.smtp = aiosmtplib.SMTP(
            hostname=opts.server.host, port=opts.server.port, local_hostname=self.ehlo_name,
            timeout=opts.timeout, use_tls=opts.security == "tls", start_tls=False,
            tls_context=tls)

    def _record(self, stage: str, command: str) -> Step:
        step = Step(stage, command)
        self.steps.append(step)
        return step

    def _fail(self, step: Step, code: int, what: str, exc: BaseException) -> SendError:
        """Turn an aiosmtplib/OS exception at one stage into a one-line SendError."""
        if isinstance(exc, aiosmtplib.SMTPResponseException):
            step.code, step.text = exc.code, exc.message
            detail = f"{exc.code} {_one_line(exc.message)}"
            return SendError(f"{what} refused by {self.where}: {detail}", exit_code=code)
        cause = exc.__cause__ if isinstance(exc, aiosmtplib.SMTPConnectError) else None
        if isinstance(exc, TimeoutError):  # aiosmtplib's timeouts subclass it too
            text = f"no reply within {self.opts.timeout:g}s"
        elif isinstance(exc, aiosmtplib.SMTPServerDisconnected):
            text = "connection closed by the server"
        elif isinstance(cause, OSError) and not isinstance(cause, ssl.SSLError) and cause.errno:
            # "Connection refused" rather than asyncio's "Connect call failed (...)"
            text = os.strerror(cause.errno) if cause.errno > 0 else cause.strerror or str(cause)
        else:
            text = _one_line(str(cause or exc)) or type(exc).__name__
        step.text = text
        if what == "connection":
            return SendError(f"cannot connect to {self.where}: {text}", exit_code=code)
        return SendError(f"{what} failed with {self.where}: {text}", exit_code=code)

    async def connect(self) -> None:
        step = self._record("connect", f"connect {self.where}" +
                            (" (implicit TLS)" if self.opts.security == "tls" else ""))
        try:
            reply = await self.smtp.connect()
        except aiosmtplib.SMTPConnectResponseError as exc:
            raise self._fail(step, SendError.CONNECT, "connection", exc) from None
        except (aiosmtplib.SMTPException, OSError) as exc:
            # An implicit-TLS handshake failure surfaces as a connect error caused by SSLError.
            tls_failed = isinstance(exc.__cause__, ssl.SSLError) or isinstance(exc, ssl.SSLError)
            if tls_failed:
                raise self._fail(step, SendError.TLS, "TLS handshake", exc) from None
            raise self._fail(step, SendError.CONNECT, "connection", exc) from None
        step.code, step.text = reply.code, reply.message
        await self.hello(SendError.CONNECT)

    async def hello(self, code: int) -> None:
        """EHLO, falling back to HELO for servers without ESMTP."""
        step = self._record("ehlo", f"EHLO {self.ehlo_name}")
        try:
            try:
                reply = await self.smtp.ehlo()
            except aiosmtplib.SMTPHeloError:
                if not self.smtp.is_connected:
                    raise
                step = self._record("helo", f"HELO {self.ehlo_name}")
                reply = await self.smtp.helo()
        except (aiosmtplib.SMTPException, OSError) as exc:
            raise self._fail(step, code, "EHLO", exc) from None
        step.code, step.text = reply.code, reply.message

    async def starttls(self) -> None:
        step = self._record("starttls", "STARTTLS")
        if not self.smtp.supports_extension("starttls"):
            step.text = "STARTTLS not offered"
            raise SendError(f"STARTTLS failed with {self.where}: the server does not offer "
                            "STARTTLS", exit_code=SendError.TLS)
        try:
            reply = await self.smtp.starttls()
        except (aiosmtplib.SMTPException, OSError) as exc:
            raise self._fail(step, SendError.TLS, "STARTTLS", exc) from None
        step.code, step.text = reply.code, reply.message
        # RFC 3207: forget what the server said before TLS and greet it again.
        await self.hello(SendError.TLS)

    async def login(self, user: str, password: str) -> None:
        step = self._record("auth", f"AUTH (user {user}, password hidden)")
        if not self.smtp.supports_extension("auth"):
            step.text = "AUTH not offered"
            raise SendError(f"AUTH failed with {self.where}: the server does not offer AUTH"
                            + ("" if self.smtp.get_transport_info("sslcontext") else
                               " (without TLS; try --starttls or --tls)"),
                            exit_code=SendError.AUTH)
        try:
            reply = await self.smtp.login(user, password)
        except (aiosmtplib.SMTPException, OSError) as exc:
            raise self._fail(step, SendError.AUTH, "AUTH", exc) from None
        step.code, step.text = reply.code, reply.message

    def _mail_options(self) -> tuple[list[str], str]:
        options: list[str] = []
        addresses = [self.message.mail_from, *self.message.rcpt_to]
        encoding = "ascii"
        if self.smtp.supports_extension("size"):
            options.append(f"SIZE={len(self.message.raw)}")
        if not self.message.raw.isascii() and self.smtp.supports_extension("8bitmime"):
            options.append("BODY=8BITMIME")
        if not all(a.isascii() for a in addresses):
            if not self.smtp.supports_extension("smtputf8"):
                raise SendError(f"MAIL FROM failed with {self.where}: non-ASCII addresses "
                                "need SMTPUTF8, which the server does not offer",
                                exit_code=SendError.MAIL)
            options.append("SMTPUTF8")
            encoding = "utf-8"
        return options, encoding

    async def mail(self) -> str:
        options, encoding = self._mail_options()
        command = " ".join([f"MAIL FROM:<{self.message.mail_from}>", *options])
        step = self._record("mail", command)
        try:
            reply = await self.smtp.mail(self.message.mail_from, options=options,
                                         encoding=encoding)
        except (aiosmtplib.SMTPException, OSError) as exc:
            raise self._fail(step, SendError.MAIL, "MAIL FROM", exc) from None
        step.code, step.text = reply.code, reply.message
        return encoding

    async def rcpt(self, encoding: str) -> tuple[list[str], dict[str, Reply]]:
        accepted: list[str] = []
        refused: dict[str, Reply] = {}
        for addr in self.message.rcpt_to:
            step = self._record("rcpt", f"RCPT TO:<{addr}>")
            try:
                reply = await self.smtp.rcpt(addr, encoding=encoding)
            except aiosmtplib.SMTPRecipientRefused as exc:
                step.code, step.text = exc.code, exc.message
                refused[addr] = Reply(exc.code, exc.message)
                continue
            except (aiosmtplib.SMTPException, OSError) as exc:
                raise self._fail(step, SendError.RCPT, "RCPT TO", exc) from None
            step.code, step.text = reply.code, reply.message
            accepted.append(addr)
        if not accepted:
            first_addr, first = next(iter(refused.items()))
            more = f"; all {len(refused)} recipients refused" if len(refused) > 1 else ""
            raise SendError(f"RCPT TO refused by {self.where}: {first} ({first_addr}{more})",
                            exit_code=SendError.RCPT)
        return accepted, refused

    async def data(self) -> Reply:
        step = self._record("data", f"DATA ({len(self.message.raw)} bytes)")
        try:
            reply = await self.smtp.data(self.message.raw)
        except (aiosmtplib.SMTPException, OSError) as exc:
            raise self._fail(step, SendError.DATA, "DATA", exc) from None
        step.code, step.text = reply.code, reply.message
        return Reply(reply.code, reply.message)

    async def quit(self) -> None:
        """Say goodbye; the message is already accepted, so failures here are only noted."""
        step = self._record("quit", "QUIT")
        try:
            reply = await self.smtp.quit()
            step.code, step.text = reply.code, reply.message
        except (aiosmtplib.SMTPException, OSError) as exc:
            step.text = _one_line(str(exc)) or type(exc).__name__
        finally:
            self.smtp.close()


async def _run(message: Outgoing, opts: SendOptions, steps: list[Step]) -> SendResult:
    session = _Session(message, opts, steps)
    try:
        await session.connect()
        if opts.security == "starttls":
            await session.starttls()
        if opts.auth_user is not None:
            await session.login(opts.auth_user, opts.password or "")
        encoding = await session.mail()
        accepted, refused = await session.rcpt(encoding)
        reply = await session.data()
        await session.quit()
    finally:
        session.smtp.close()
    tls = {"tls": "implicit", "starttls": "starttls"}.get(opts.security)
    return SendResult(
        server=str(opts.server), message_id=message.message_id, mail_from=message.mail_from,
        rcpt_to=list(message.rcpt_to), accepted=accepted, refused=refused, reply=reply,
        tls=tls, size=len(message.raw), transcript=steps)


def send(message: Outgoing, opts: SendOptions, transcript: list[Step] | None = None
         ) -> SendResult:
    """Send `message` to `opts.server`; return the result or raise SendError.

    Steps are appended to `transcript` (when given) as they happen, so a caller
    still has the conversation after a failure.
    """
    steps = transcript if transcript is not None else []
    if opts.ehlo is not None:
        check_ehlo(opts.ehlo)
    return asyncio.run(_run(message, opts, steps))
