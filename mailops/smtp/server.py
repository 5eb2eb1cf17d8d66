"""Run the receive daemon: listeners, the group-commit writer and the indexer."""

from __future__ import annotations

import asyncio
import errno
import ipaddress
import os
import signal
import socket
import ssl
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mailops.errors import ServeError, UsageError
from mailops.retention import Policy
from mailops.smtp.chaos import Chaos, Trigger
from mailops.smtp.handler import (
    CatcherHandler,
    MailopsSMTP,
    Submitter,
    accept_any_login,
    number_sessions,
)
from mailops.smtp.indexer import Indexer
from mailops.smtp.logfmt import event
from mailops.smtp.protocol import FastHandler, FastSMTP
from mailops.smtp.scheduled import FIRST_RUN_DELAY, RetentionTask
from mailops.smtp.tls import self_signed, server_context
from mailops.smtp.workers import WorkerLink, WorkerPool
from mailops.smtp.writer import GroupCommitWriter


@dataclass
class Listener:
    """One address to listen on; `implicit_tls` for SMTPS-style listeners."""

    host: str
    port: int
    implicit_tls: bool = False

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"


@dataclass
class ServeOptions:
    """Everything `mailops serve` needs; built by the CLI from config and flags."""

    store_path: Path
    listeners: list[Listener]
    hostname: str = "mailops.localhost"
    max_size: int = 25 * 1024 * 1024
    max_recipients: int = 1000
    auth: str = "none"
    timeout: float = 300.0
    allow_public: bool = False
    starttls: bool = False
    tls_cert: Path | None = None
    tls_key: Path | None = None
    tls_dir: Path | None = None  # where a self-signed certificate is kept
    chaos: list[Trigger] = field(default_factory=list)
    chaos_seed: int | None = None
    event_loop: str = "uvloop"
    synchronous: str = "FULL"
    workers: int = 1  # SMTP processes: 1 = the main one; N > 1 = N workers beside it
    retention: Policy | None = None  # applied every retention_interval seconds
    retention_interval: float = 3600.0


_MAX_WORKERS = 64


def resolve_workers(value: str | int, chaos_seed: int | None = None) -> int:
    """`--workers`: a number of SMTP processes, or `auto`: 2 on a machine with two
    or more CPUs, else 1. Auto also means 1 with --chaos-seed, whose repeatable
    sequence of failures is per process."""
    text = str(value).strip().lower()
    if text == "auto":
        return 2 if (os.cpu_count() or 1) >= 2 and chaos_seed is None else 1
    if text.isascii() and text.isdigit() and 1 <= int(text) <= _MAX_WORKERS:
        return int(text)
    raise UsageError(f"--workers {value!r}: expected auto or a number from 1 to {_MAX_WORKERS}")


def parse_listen(spec: str, implicit_tls: bool = False) -> Listener:
    """Parse `HOST:PORT` or `[V6]:PORT`."""
    text = spec.strip()
    if text.startswith("["):
        host, sep, rest = text[1:].partition("]")
        port_s = rest[1:] if rest.startswith(":") else ""
        ok = bool(sep)
    else:
        host, _, port_s = text.rpartition(":")
        ok = ":" not in host
    # isascii: str.isdigit() also accepts digits int() refuses, such as '²'.
    valid_port = port_s.isascii() and port_s.isdigit() and 0 <= int(port_s) <= 65535
    if not ok or not host or not valid_port:
        raise UsageError(
            f"--listen {spec!r}: expected HOST:PORT, e.g. 127.0.0.1:2525 or [::1]:2525")
    return Listener(host, int(port_s), implicit_tls)


def is_loopback(host: str) -> bool:
    """Whether an address only accepts connections from this machine."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _check_options(opts: ServeOptions) -> None:
    if not opts.listeners:
        raise UsageError("nothing to listen on: give at least one --listen HOST:PORT")
    if opts.auth not in {"none", "any"}:
        raise UsageError(f"--auth {opts.auth!r}: expected none or any")
    if opts.max_size <= 0 or opts.max_recipients <= 0:
        raise UsageError("--max-size and --max-recipients must be positive")
    if opts.timeout <= 0:
        raise UsageError("--timeout must be a positive number of seconds")
    if not 1 <= opts.workers <= _MAX_WORKERS:
        raise UsageError(f"--workers must be between 1 and {_MAX_WORKERS}")
    for lst in opts.listeners:
        if not opts.allow_public and not is_loopback(lst.host):
            raise ServeError(
                f"refusing to listen on {lst}: not a loopback address. mailops accepts mail "
                "for anyone; pass --allow-public if you really want it reachable")
    if (opts.tls_cert is None) != (opts.tls_key is None):
        raise UsageError("--tls-cert and --tls-key go together")
    wants_tls = opts.starttls or any(lst.implicit_tls for lst in opts.listeners)
    if opts.tls_cert is not None and not wants_tls:
        raise UsageError("--tls-cert is only used with --starttls or --tls-listen")


def validate(opts: ServeOptions) -> None:
    """Check options and TLS files up front (before --detach forks a daemon that
    would only fail in its log)."""
    _check_options(opts)
    _tls_context(opts)


def _tls_context(opts: ServeOptions) -> ssl.SSLContext | None:
    wants_tls = opts.starttls or any(lst.implicit_tls for lst in opts.listeners)
    if not wants_tls:
        return None
    cert, key = opts.tls_cert, opts.tls_key
    if cert is None or key is None:
        directory = opts.tls_dir or opts.store_path.parent / "tls"
        cert, key = self_signed(directory, opts.hostname)
    return server_context(cert, key)


def _new_loop(kind: str) -> asyncio.AbstractEventLoop:
    if kind == "uvloop":
        try:
            import uvloop
        except ImportError:
            return asyncio.new_event_loop()
        loop: asyncio.AbstractEventLoop = uvloop.new_event_loop()
        return loop
    if kind == "asyncio":
        return asyncio.new_event_loop()
    raise UsageError(f"--loop {kind!r}: expected uvloop or asyncio")


def _handler(opts: ServeOptions, writer: Submitter) -> FastHandler:
    return FastHandler(writer, max_recipients=opts.max_recipients, auth=opts.auth,
                       chaos=Chaos(opts.chaos, opts.chaos_seed))


def _protocol_factory(opts: ServeOptions, handler: CatcherHandler,
                      starttls: ssl.SSLContext | None) -> Callable[[], MailopsSMTP]:
    loop = asyncio.get_running_loop()

    def factory() -> MailopsSMTP:
        return FastSMTP(
            handler, data_size_limit=opts.max_size, enable_SMTPUTF8=True,
            hostname=opts.hostname, ident="mailops", tls_context=starttls,
            timeout=opts.timeout, auth_require_tls=False,
            authenticator=accept_any_login if opts.auth == "any" else None,
            auth_exclude_mechanism=["LOGIN", "PLAIN"] if opts.auth == "none" else None,
            loop=loop)

    return factory


async def _listen(opts: ServeOptions, handler: CatcherHandler, tls: ssl.SSLContext | None,
                  *, accept: bool = True) -> list[asyncio.base_events.Server]:
    loop = asyncio.get_running_loop()
    servers: list[asyncio.base_events.Server] = []
    for lst in opts.listeners:
        # Implicit-TLS listeners wrap the socket; plain ones may offer STARTTLS.
        starttls = tls if opts.starttls and not lst.implicit_tls else None
        factory = _protocol_factory(opts, handler, starttls)
        try:
            server = await loop.create_server(
                # A burst of clients connecting at once should queue, not see SYN
                # retries; the default backlog (100) is easily exceeded in tests.
                factory, host=lst.host, port=lst.port, reuse_address=True, backlog=1024,
                start_serving=accept,
                ssl=tls if lst.implicit_tls else None,
                # The idle timeout also bounds a TLS handshake that never comes.
                ssl_handshake_timeout=opts.timeout if lst.implicit_tls else None,
                family=socket.AF_INET6 if ":" in lst.host else socket.AF_UNSPEC)
        except OSError as exc:
            for s in servers:
                s.close()
            reason = ("address already in use" if exc.errno == errno.EADDRINUSE
                      else exc.strerror or str(exc))
            raise ServeError(f"cannot listen on {lst}: {reason}") from None
        if not accept:
            # Not serving here still means listening: connections that arrive before
            # the workers are up wait in the backlog instead of being refused.
            for sock in server.sockets:
                with socket.socket(fileno=os.dup(sock.fileno())) as same:
                    same.listen(1024)
        servers.append(server)
    return servers


def bound_addresses(servers: list[asyncio.base_events.Server]) -> list[str]:
    """The actual HOST:PORT of every socket (port 0 resolves to the real port)."""
    out: list[str] = []
    for server in servers:
        for sock in server.sockets:
            host, port = sock.getsockname()[:2]
            out.append(f"[{host}]:{port}" if ":" in host else f"{host}:{port}")
    return out


def _log_loop_error(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
    """One log line, not a traceback, for errors nobody awaited (e.g. a client that
    sent garbage instead of a TLS handshake; aiosmtpd leaves that future unread)."""
    exc = context.get("exception")
    event("loop_error", message=str(context.get("message", "")),
          error=f"{type(exc).__name__}: {exc}" if exc is not None else "")


def serve(opts: ServeOptions, on_ready: Callable[[list[str]], None] | None = None) -> None:
    """Run until SIGINT or SIGTERM; on stop, finish writing what was accepted.

    With `opts.workers` > 1 this process only binds the listeners and writes: that
    many SMTP worker processes accept on its sockets (see mailops.smtp.workers)."""
    _check_options(opts)
    tls = _tls_context(opts)
    loop = _new_loop(opts.event_loop)
    indexer = Indexer(opts.store_path)
    writer = GroupCommitWriter(opts.store_path, on_commit=indexer.wake,
                               synchronous=opts.synchronous)
    writer.start()
    indexer.start()
    retention = None
    if opts.retention is not None and not opts.retention.is_empty:
        retention = RetentionTask(opts.store_path, opts.retention, opts.retention_interval,
                                  min(FIRST_RUN_DELAY, opts.retention_interval))
        retention.start()
    number_sessions(1 if opts.workers > 1 else None)
    handler = _handler(opts, writer)
    stop = asyncio.Event()
    listening: list[bool] = []  # a failed bind ends with only its error line
    loop.set_exception_handler(_log_loop_error)

    async def main() -> None:
        # With workers, this process accepts no SMTP itself: its writer thread
        # would share the GIL with SMTP sessions (measured: 923-933 msg/s median
        # with the main process serving, 1,051-1,071 without; docs/benchmarks.md).
        servers = await _listen(opts, handler, tls, accept=opts.workers <= 1)
        listening.append(True)
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        pool: WorkerPool | None = None
        if opts.workers > 1:
            fds = [(sock.fileno(), index) for index, server in enumerate(servers)
                   for sock in server.sockets]
            pool = WorkerPool({"opts": opts}, writer, fds, opts.workers)
            await pool.start()
        addresses = bound_addresses(servers)
        event("listening", addresses=addresses, store=str(opts.store_path),
              workers=opts.workers)
        if on_ready is not None:
            on_ready(addresses)
        await stop.wait()
        if pool is not None:
            pool.begin_stop()  # before the sockets close: no restart needs them now
        for server in servers:
            server.close()
        # Sessions in DATA get their 250 first; then every session is told 421.
        # The workers' last messages still come through this loop to the writer.
        await asyncio.gather(handler.shutdown(),
                             pool.stop() if pool is not None else asyncio.sleep(0))

    try:
        loop.run_until_complete(main())
    finally:
        try:
            loop.run_until_complete(loop.shutdown_asyncgens())
        finally:
            loop.close()
            if retention is not None:
                retention.stop()
            writer.stop()
            indexer.stop()
            if listening:
                event("stopped", messages=writer.messages, batches=writer.batches)


def serve_worker(opts: ServeOptions, number: int, link_fd: int,
                 listen_fds: list[tuple[int, int]]) -> int:
    """An SMTP worker process: serve on inherited listening sockets, hand messages
    to the main process over the link, until SIGTERM (exit 0) or until the main
    process is gone (exit 1)."""
    tls = _tls_context(opts)
    loop = _new_loop(opts.event_loop)
    loop.set_exception_handler(_log_loop_error)
    number_sessions(number)
    lost: list[bool] = []

    async def main() -> None:
        stop = asyncio.Event()
        link = await WorkerLink.connect(socket.socket(fileno=link_fd))
        handler = _handler(opts, link)
        servers = []
        for fd, index in listen_fds:
            lst = opts.listeners[index]
            starttls = tls if opts.starttls and not lst.implicit_tls else None
            servers.append(await loop.create_server(
                _protocol_factory(opts, handler, starttls), sock=socket.socket(fileno=fd),
                backlog=1024, ssl=tls if lst.implicit_tls else None,
                ssl_handshake_timeout=opts.timeout if lst.implicit_tls else None))
        loop.add_signal_handler(signal.SIGTERM, stop.set)
        waits = [loop.create_task(link.lost.wait()), loop.create_task(stop.wait())]
        await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        for task in waits:
            task.cancel()
        if link.lost.is_set():
            lost.append(True)
            event("worker_orphaned", worker=number)
        for server in servers:
            server.close()
        await handler.shutdown(grace=0 if lost else 10.0)
        link.close()

    try:
        loop.run_until_complete(main())
    finally:
        try:
            loop.run_until_complete(loop.shutdown_asyncgens())
        finally:
            loop.close()
    return 1 if lost else 0
