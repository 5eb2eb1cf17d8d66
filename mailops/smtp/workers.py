"""Several SMTP processes on one port, one writer: `mailops serve --workers N`.

One event loop tops out at about one CPU core, so the daemon can run N SMTP
processes. The main process binds the listeners (so port 0 resolves, and a
port in use fails once, with the usual error), owns the single group-commit
writer and the indexer child, and starts N worker processes (`python -m
mailops.smtp.workers`) that inherit the listening sockets; it accepts no SMTP
itself, so its writer thread never waits for the GIL behind a session. The
kernel hands each new connection to whichever worker accepts it first, so a
busy one takes fewer. Sharing the accept queue rather than
binding a second socket with SO_REUSEPORT keeps "address already in use" for a
second daemon on the same port (SO_REUSEPORT would let it join silently).

Workers never open the store: each accepted message goes over a socketpair to
the main process (`WorkerLink.submit`), which queues it on the writer and
answers with the id once the `synchronous=FULL` commit returned; only then
does the worker send its 250. If the main process dies, the link closes and
the kernel kills the worker (PR_SET_PDEATHSIG), so nothing can be acknowledged
that is not committed.

Frames on the link: worker to main `_REQ` (request id, header and raw
lengths), a pickled header (mail_from, rcpt_to, peer, received_at), the raw
bytes; main to worker `_REP` (request id, message id or -1, error length) and
the error text.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import functools
import os
import pickle
import signal
import socket
import struct
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, cast

from mailops.errors import ServeError, StoreError
from mailops.smtp.logfmt import current_format, error_event
from mailops.smtp.writer import GroupCommitWriter
from mailops.store import Incoming

_REQ = struct.Struct("!IQQ")
_REP = struct.Struct("!IqI")
_PR_SET_PDEATHSIG = 1
_STOP_WAIT = 20.0  # seconds a worker gets to finish its DATA sessions on stop


class LinkLost(ServeError):
    """The main process (and with it the writer) is gone; nothing was stored."""


class WorkerLink(asyncio.Protocol):
    """A worker's stand-in for the writer: `submit` returns once the main process
    reports the message committed. A protocol, not streams: one message costs no
    extra awaits or tasks on either side."""

    def __init__(self) -> None:
        self._transport: asyncio.Transport | None = None
        self._buf = bytearray()
        self._pending: dict[int, asyncio.Future[int]] = {}
        self._next = 0
        self.lost = asyncio.Event()

    @classmethod
    async def connect(cls, sock: socket.socket) -> WorkerLink:
        """The link over the worker's end of the socketpair."""
        _, link = await asyncio.get_running_loop().create_unix_connection(cls, sock=sock)
        return link

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not asyncio.Transport subclasses, only alike.
        self._transport = cast(asyncio.Transport, transport)

    async def submit(self, item: Incoming) -> int:
        """Send a message to the main process; its id once durable (LinkLost if the
        main process went away first)."""
        transport = self._transport
        if self.lost.is_set() or transport is None or transport.is_closing():
            raise LinkLost("the writer process is gone")
        self._next = (self._next + 1) & 0xFFFFFFFF
        req = self._next
        fut: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self._pending[req] = fut
        head = pickle.dumps((item.mail_from, item.rcpt_to, item.peer, item.received_at))
        try:
            # One call, one send (two write() calls are two syscalls); the raw
            # bytes are not copied into a joined buffer.
            transport.writelines((_REQ.pack(req, len(head), len(item.raw)) + head, item.raw))
            return await fut
        finally:
            self._pending.pop(req, None)

    def data_received(self, data: bytes) -> None:
        buf = self._buf
        buf += data
        size = _REP.size
        while len(buf) >= size:
            req, msg_id, err_len = _REP.unpack_from(buf)
            if len(buf) < size + err_len:
                break
            error = bytes(buf[size:size + err_len]).decode("utf-8", "replace")
            del buf[:size + err_len]
            fut = self._pending.get(req)
            if fut is None or fut.done():
                continue
            if msg_id < 0:
                fut.set_exception(StoreError(error or "store failed"))
            else:
                fut.set_result(msg_id)

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost.set()
        for fut in self._pending.values():
            if not fut.done():
                fut.set_exception(LinkLost("the writer process is gone"))

    def close(self) -> None:
        """Close the link (the worker is done)."""
        if self._transport is not None:
            self._transport.close()


class _MainLink(asyncio.Protocol):
    """The main process's end of one worker's link: queue each message on the
    writer, answer with its id (or the error) once the commit returned."""

    def __init__(self, writer: GroupCommitWriter, on_lost: Callable[[], None]) -> None:
        self._writer = writer
        self._on_lost = on_lost
        self._transport: asyncio.Transport | None = None
        self._buf = bytearray()
        self._out: list[bytes] = []

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not asyncio.Transport subclasses, only alike.
        self._transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        buf = self._buf
        buf += data
        size = _REQ.size
        while len(buf) >= size:
            req, head_len, raw_len = _REQ.unpack_from(buf)
            end = size + head_len + raw_len
            if len(buf) < end:
                break  # a big message: wait for the rest
            # Through a memoryview: slicing the bytearray itself would copy a big
            # message once more before bytes() copies it again.
            with memoryview(buf) as view:
                mail_from, rcpt_to, peer, received_at = pickle.loads(view[size:size + head_len])
                raw = bytes(view[size + head_len:end])
            del buf[:end]
            fut = self._writer.submit_future(Incoming(
                raw=raw, mail_from=mail_from, rcpt_to=rcpt_to, peer=peer,
                received_at=received_at))
            fut.add_done_callback(functools.partial(self._done, req))

    def _done(self, req: int, fut: asyncio.Future[int]) -> None:
        if fut.cancelled():
            msg_id, error = -1, b"cancelled"
        elif (exc := fut.exception()) is not None:
            msg_id, error = -1, str(exc).encode()
        else:
            msg_id, error = fut.result(), b""
        # The futures of one commit resolve in one loop pass: one write for them all.
        if not self._out:
            asyncio.get_running_loop().call_soon(self._flush)
        self._out.append(_REP.pack(req, msg_id, len(error)) + error)

    def _flush(self) -> None:
        data = b"".join(self._out)
        self._out.clear()
        if self._transport is not None and not self._transport.is_closing():
            self._transport.write(data)

    def connection_lost(self, exc: Exception | None) -> None:
        self._on_lost()

    def close(self) -> None:
        """Close the main process's end."""
        if self._transport is not None:
            self._transport.close()


@dataclass
class _Worker:
    number: int
    proc: subprocess.Popen[bytes]
    started: float
    link: _MainLink | None = None
    gone: asyncio.Event = field(default_factory=asyncio.Event)


class WorkerPool:
    """The main process's side: starts the workers, stores what they send,
    restarts a worker that dies, stops them all on shutdown."""

    def __init__(self, payload: dict[str, Any], writer: GroupCommitWriter,
                 listen_fds: list[tuple[int, int]], count: int) -> None:
        self._payload = payload
        self._writer = writer
        self._listen_fds = listen_fds  # (fd, index of its listener in opts.listeners)
        self._count = count
        self._workers: dict[int, _Worker] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._next_number = 1  # the main process serves no sessions: workers are 1, 2...
        self._stopping = False
        self._restart_delay = 0.5

    @property
    def pids(self) -> list[int]:
        """Process ids of the running workers."""
        return [w.proc.pid for w in self._workers.values()]

    async def start(self) -> None:
        """Start the workers (they serve as soon as they are up)."""
        for _ in range(self._count):
            await self._spawn()

    async def _spawn(self) -> None:
        number = self._next_number
        self._next_number += 1
        ours, theirs = socket.socketpair()
        fds = [fd for fd, _ in self._listen_fds]
        payload = {**self._payload, "number": number, "link_fd": theirs.fileno(),
                   "listen_fds": self._listen_fds, "log_format": current_format()}
        proc = subprocess.Popen(
            [sys.executable, "-m", "mailops.smtp.workers", str(os.getpid())],
            stdin=subprocess.PIPE, pass_fds=[theirs.fileno(), *fds])
        theirs.close()
        assert proc.stdin is not None
        with contextlib.suppress(OSError):  # a worker that died at once is reaped below
            proc.stdin.write(pickle.dumps(payload))
            proc.stdin.close()
        worker = _Worker(number, proc, time.monotonic())
        self._workers[number] = worker
        loop = asyncio.get_running_loop()
        _, worker.link = await loop.create_unix_connection(
            lambda: _MainLink(self._writer, worker.gone.set), sock=ours)
        task = loop.create_task(self._watch(worker))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _watch(self, worker: _Worker) -> None:
        """Wait for the worker to exit (its link closes); restart it unless stopping."""
        await worker.gone.wait()
        if worker.link is not None:
            worker.link.close()
        code = await self._reap(worker)
        del self._workers[worker.number]
        if self._stopping:
            return
        error_event("worker_exited", worker=worker.number, pid=worker.proc.pid, code=code,
                    action="restart")
        # A worker that keeps dying right after start is restarted ever more slowly.
        if time.monotonic() - worker.started < 10:
            self._restart_delay = min(self._restart_delay * 2, 10.0)
        else:
            self._restart_delay = 0.5
        await asyncio.sleep(self._restart_delay)
        if not self._stopping:
            await self._spawn()

    async def _reap(self, worker: _Worker, wait: float = 5.0) -> int:
        deadline = time.monotonic() + wait
        while (code := worker.proc.poll()) is None:
            if time.monotonic() > deadline:
                worker.proc.kill()
                return worker.proc.wait()
            await asyncio.sleep(0.02)
        return code

    def begin_stop(self) -> None:
        """Stop restarting workers and ask each to finish its sessions (SIGTERM)."""
        self._stopping = True
        for worker in self._workers.values():
            with contextlib.suppress(ProcessLookupError):
                worker.proc.send_signal(signal.SIGTERM)

    async def stop(self) -> None:
        """Stop every worker; their sessions in DATA still get stored and answered."""
        self.begin_stop()
        deadline = time.monotonic() + _STOP_WAIT
        while self._workers and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        for worker in list(self._workers.values()):  # stuck: no reply will come now
            with contextlib.suppress(ProcessLookupError):
                worker.proc.kill()
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=10.0)


def _die_with_parent(parent_pid: int) -> None:
    """Have the kernel SIGKILL this process when the main process dies (Linux); the
    closed link is the fallback elsewhere."""
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != parent_pid:  # the parent died before prctl took effect
        os._exit(1)


def worker_main(parent_pid: int) -> None:
    """A worker process: read its settings from stdin, serve until told to stop."""
    # Ctrl-C reaches the whole process group; the main process decides the order
    # of shutdown (it sends SIGTERM once it is ready to store the last messages).
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _die_with_parent(parent_pid)
    payload = pickle.load(sys.stdin.buffer)
    from mailops.smtp import logfmt
    from mailops.smtp.server import serve_worker

    logfmt.configure(payload["log_format"])
    code = serve_worker(payload["opts"], payload["number"], payload["link_fd"],
                        payload["listen_fds"])
    sys.exit(code)


if __name__ == "__main__":
    # Run the copy imported as mailops.smtp.workers, the one server.py uses too.
    from mailops.smtp.workers import worker_main as _main

    _main(int(sys.argv[1]))
