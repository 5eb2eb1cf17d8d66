"""A delaying DNS forwarder for benchmarks: adds a fixed latency to every query.

Kernel netem is not available on the benchmark machines, so this stands in for a
distant resolver: it listens on a loopback address (UDP and TCP), waits `--delay-ms`
(default 50) after each query arrives, then relays it to the upstream server and
the reply straight back. Messages are relayed as opaque bytes: each UDP query goes
out on its own connected socket (so replies need no matching by ID), each TCP
connection gets its own upstream connection and its frames (RFC 1035 4.2.2 length
prefix + message) are delayed one by one, in order.

    uv run python bench/dnsdelay.py --listen 127.0.0.1:5353 --upstream 127.0.0.1:5300

prints `ready HOST:PORT` once listening, a line of counts (`udp=N tcp=N timeouts=N`)
on SIGUSR1, and again on SIGTERM/SIGINT before it exits. `--log FILE` appends one
line per query (`seconds proto qname qtype`, decoded with dnspython) for profiling;
it costs CPU, so leave it off when timing.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import time
from dataclasses import dataclass, field
from typing import TextIO, cast

UPSTREAM_TIMEOUT = 5.0  # a lost UDP reply: give up (the client retries by itself)


def parse_hostport(text: str, default_port: int = 53) -> tuple[str, int]:
    """`IP`, `IP:PORT` or `[IPv6]:PORT` -> (ip, port)."""
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        return host, int(rest[1:]) if rest.startswith(":") else default_port
    if text.count(":") == 1:
        host, _, port = text.partition(":")
        return host, int(port)
    return text, default_port


@dataclass
class Stats:
    """What went through the forwarder."""

    udp: int = 0
    tcp: int = 0
    timeouts: int = 0  # UDP queries dropped: no upstream reply in time, or no socket
    started: float = field(default_factory=time.monotonic)
    log: TextIO | None = None

    def record(self, proto: str, wire: bytes) -> None:
        if proto == "udp":
            self.udp += 1
        else:
            self.tcp += 1
        if self.log is not None:
            self.log.write(f"{time.monotonic() - self.started:.4f} {proto} {_describe(wire)}\n")

    def line(self) -> str:
        return f"udp={self.udp} tcp={self.tcp} timeouts={self.timeouts}"


def _describe(wire: bytes) -> str:
    """`qname qtype` of a query (dnspython parses; the relay itself never does)."""
    import dns.exception
    import dns.message
    import dns.rdatatype

    try:
        msg = dns.message.from_wire(wire, ignore_trailing=True)
        q = msg.question[0]
        return f"{q.name} {dns.rdatatype.to_text(q.rdtype)}"
    except (dns.exception.DNSException, IndexError, ValueError):
        return "? ?"


class _UpstreamReply(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.reply: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        if not self.reply.done():
            self.reply.set_result(data)

    def error_received(self, exc: Exception) -> None:
        if not self.reply.done():
            self.reply.set_exception(exc)


class _UdpFront(asyncio.DatagramProtocol):
    """Receives client queries; each is relayed by its own task after the delay."""

    def __init__(self, fwd: Forwarder) -> None:
        self.fwd = fwd
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's UDP transport is not an asyncio.DatagramTransport subclass
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.fwd.stats.record("udp", data)
        task = asyncio.get_running_loop().create_task(self._relay(data, addr))
        self.fwd.tasks.add(task)
        task.add_done_callback(self.fwd.tasks.discard)

    async def _relay(self, data: bytes, addr: tuple[str, int]) -> None:
        await asyncio.sleep(self.fwd.delay)
        loop = asyncio.get_running_loop()
        try:
            transport, proto = await loop.create_datagram_endpoint(
                _UpstreamReply, remote_addr=self.fwd.upstream)
        except OSError:  # out of sockets: drop it, the client retries
            self.fwd.stats.timeouts += 1
            return
        try:
            transport.sendto(data)
            reply = await asyncio.wait_for(proto.reply, UPSTREAM_TIMEOUT)
        except (TimeoutError, OSError):
            self.fwd.stats.timeouts += 1
            return
        finally:
            transport.close()
        if self.transport is not None:
            self.transport.sendto(reply, addr)


class Forwarder:
    """The forwarder's state: where to listen, where to relay, how long to wait."""

    def __init__(self, listen: tuple[str, int], upstream: tuple[str, int],
                 delay: float = 0.05, log: TextIO | None = None) -> None:
        self.listen = listen
        self.upstream = upstream
        self.delay = delay
        self.stats = Stats(log=log)
        self.tasks: set[asyncio.Task[None]] = set()
        self._udp: asyncio.DatagramTransport | None = None
        self._tcp: asyncio.Server | None = None

    async def start(self) -> Forwarder:
        """Bind UDP and TCP on the same address and port (port 0: the kernel picks)."""
        loop = asyncio.get_running_loop()
        self._tcp = await asyncio.start_server(self._tcp_client, *self.listen)
        port = self._tcp.sockets[0].getsockname()[1]
        self.listen = (self.listen[0], port)
        self._udp, _ = await loop.create_datagram_endpoint(
            lambda: _UdpFront(self), local_addr=self.listen)
        return self

    async def _tcp_client(self, reader: asyncio.StreamReader,
                          writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.upstream)
        except OSError:
            writer.close()
            return
        frames: asyncio.Queue[tuple[float, bytes] | None] = asyncio.Queue()

        async def client_to_upstream() -> None:
            while True:  # read frame by frame: each one gets the delay
                try:
                    prefix = await reader.readexactly(2)
                    body = await reader.readexactly(int.from_bytes(prefix, "big"))
                except (asyncio.IncompleteReadError, OSError):
                    await frames.put(None)
                    return
                self.stats.record("tcp", body)
                await frames.put((time.monotonic() + self.delay, prefix + body))

        async def delayed_writer() -> None:
            while (item := await frames.get()) is not None:
                due, frame = item
                await asyncio.sleep(max(0.0, due - time.monotonic()))
                up_writer.write(frame)
                await up_writer.drain()
            with contextlib.suppress(OSError):
                up_writer.write_eof()

        async def upstream_to_client() -> None:
            while data := await up_reader.read(65536):
                writer.write(data)
                await writer.drain()

        try:
            # a peer went away, or the forwarder is shutting down: the stream just ends
            with contextlib.suppress(OSError, asyncio.CancelledError):
                await asyncio.gather(client_to_upstream(), delayed_writer(),
                                     upstream_to_client())
        finally:
            for w in (writer, up_writer):
                w.close()

    async def close(self) -> None:
        """Stop listening; queries in flight are dropped."""
        if self._udp is not None:
            self._udp.close()
        if self._tcp is not None:
            self._tcp.close()
        for task in list(self.tasks):
            task.cancel()


async def _serve(args: argparse.Namespace) -> None:
    log = open(args.log, "a", buffering=1) if args.log else None  # noqa: SIM115
    if log is not None:
        _describe(b"")  # import dnspython now, not during the first timed query
    fwd = await Forwarder(parse_hostport(args.listen), parse_hostport(args.upstream),
                          args.delay_ms / 1000, log).start()
    print(f"ready {fwd.listen[0]}:{fwd.listen[1]}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    loop.add_signal_handler(signal.SIGUSR1, lambda: print(fwd.stats.line(), flush=True))
    await stop.wait()
    await fwd.close()
    print(fwd.stats.line(), flush=True)
    if log is not None:
        log.close()


def main(argv: list[str] | None = None) -> None:
    """Command line: run the forwarder until SIGTERM."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--listen", default="127.0.0.1:0", help="IP:PORT to listen on (UDP+TCP)")
    ap.add_argument("--upstream", required=True, help="IP:PORT of the real server")
    ap.add_argument("--delay-ms", type=float, default=50.0, help="added per query (ms)")
    ap.add_argument("--log", help="append one line per query to this file")
    ap.add_argument("--no-uvloop", action="store_true", help="use the default asyncio loop")
    args = ap.parse_args(argv)
    if args.no_uvloop:
        asyncio.run(_serve(args))
    else:
        import uvloop  # a dependency of mailops

        uvloop.run(_serve(args))


if __name__ == "__main__":
    main()
