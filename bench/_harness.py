"""Shared helpers for the benchmark scripts (not a benchmark itself).

Every benchmark runs its servers as real subprocesses on 127.0.0.1 with free
ports and a throwaway MAILOPS_HOME, and removes everything it created.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SMTP_SOURCE = shutil.which("smtp-source") or "/usr/sbin/smtp-source"

# A bare aiosmtpd server on the default asyncio loop that stores nothing.
BASELINE_SERVER = r"""
import asyncio, sys
from aiosmtpd.smtp import SMTP

class Handler:
    async def handle_DATA(self, server, session, envelope):
        return "250 OK"

async def main():
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: SMTP(Handler(), data_size_limit=60_000_000),
                                      "127.0.0.1", int(sys.argv[1]))
    print("ready", flush=True)
    async with server:
        await server.serve_forever()

asyncio.run(main())
"""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_port(port: int, proc: subprocess.Popen[bytes], timeout: float = 30) -> None:
    """Wait until something accepts connections on the port (or the process died)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited early with {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
                s.recv(100)  # the 220 banner: the server is really serving
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listening on port {port} after {timeout}s")


@dataclass
class Running:
    """A server subprocess under test."""

    proc: subprocess.Popen[bytes]
    port: int
    home: Path | None = None

    @property
    def pid(self) -> int:
        return self.proc.pid

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


@contextmanager
def temp_dir(prefix: str) -> Iterator[Path]:
    """A temporary directory removed afterwards."""
    path = Path(tempfile.mkdtemp(prefix=prefix))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


@contextmanager
def mailops_serve(*extra: str) -> Iterator[Running]:
    """`mailops serve` as a subprocess with a fresh MAILOPS_HOME (its log in that home)."""
    with temp_dir("mailops-bench-") as home:
        port = free_port()
        env = {**os.environ, "MAILOPS_HOME": str(home)}
        log = open(home / "serve.log", "wb")  # noqa: SIM115 - closed below
        proc = subprocess.Popen(
            [sys.executable, "-m", "mailops.commands", "serve", "--listen",
             f"127.0.0.1:{port}", "--pidfile", str(home / "serve.pid"), *extra],
            stdout=log, stderr=subprocess.STDOUT, env=env, cwd=ROOT)
        run = Running(proc, port, home)
        try:
            wait_port(port, proc)
            yield run
        finally:
            run.stop()
            log.close()


def workers_used(run: Running) -> int:
    """The SMTP process count the daemon reports in its `listening` log line."""
    assert run.home is not None
    for line in (run.home / "serve.log").read_text(errors="replace").splitlines():
        if " listening " in line and "workers=" in line:
            return int(line.rpartition("workers=")[2].split()[0])
    return 1


@contextmanager
def baseline_server() -> Iterator[Running]:
    """The bare aiosmtpd server (default asyncio loop, stores nothing)."""
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-c", BASELINE_SERVER, str(port)],
                            stdout=subprocess.DEVNULL, cwd=ROOT)
    run = Running(proc, port)
    try:
        wait_port(port, proc)
        yield run
    finally:
        run.stop()


def smtp_source(port: int, sessions: int, messages: int, length: int,
                timeout: float = 600) -> float:
    """Run Postfix's smtp-source; returns the wall time in seconds."""
    start = time.monotonic()
    out = subprocess.run(
        [SMTP_SOURCE, "-s", str(sessions), "-m", str(messages), "-l", str(length),
         "-f", "src@example.test", "-t", "dst@example.test", f"127.0.0.1:{port}"],
        capture_output=True, text=True, timeout=timeout)
    elapsed = time.monotonic() - start
    if out.returncode != 0:
        raise RuntimeError(f"smtp-source failed ({out.returncode}): {out.stderr.strip()}")
    return elapsed


def rss_kib(pid: int) -> tuple[int, int]:
    """(VmRSS, VmHWM) of a process in KiB, from /proc/PID/status."""
    rss = hwm = 0
    with open(f"/proc/{pid}/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                rss = int(line.split()[1])
            elif line.startswith("VmHWM:"):
                hwm = int(line.split()[1])
    return rss, hwm


def median(values: list[float]) -> float:
    """The median (of a non-empty list)."""
    return statistics.median(values)


def machine() -> str:
    """nproc and CPU model, for the report."""
    model = "unknown CPU"
    # No /proc: keep the generic name.
    with contextlib.suppress(OSError), open("/proc/cpuinfo") as fh:
        for line in fh:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return f"{os.cpu_count()} CPUs, {model}, Python {sys.version.split()[0]}"
