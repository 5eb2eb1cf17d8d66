"""Daemon memory: RSS of `mailops serve` while ingesting, and for one 40 MB message.

1. smtp-source sends 10,000 messages; /proc/PID/status (VmRSS, VmHWM) of the
   daemon, its SMTP worker processes (`--workers`) and its indexer child is
   sampled every 20 ms; "all processes together" is the peak of their sum. Baseline: the bare
   aiosmtpd server (stores nothing) under the same load, same run.
2. A fresh daemon (--max-size 50000000) receives one 40 MB message over
   smtplib; the peak RSS must stay under 4x the message size.

    uv run python bench/memory.py [--messages 10000] [--big-mb 40] [--workers N|auto]
"""

from __future__ import annotations

import argparse
import base64
import os
import smtplib
import subprocess
import threading
import time

from _harness import baseline_server, machine, mailops_serve, rss_kib, smtp_source


class Sampler(threading.Thread):
    """Samples VmRSS/VmHWM of a process and its direct children until stopped."""

    def __init__(self, pid: int, interval: float = 0.02) -> None:
        super().__init__(daemon=True)
        self.pid = pid
        self.interval = interval
        self.stopping = threading.Event()
        self.peak: dict[int, int] = {}  # pid -> max VmRSS seen (KiB)
        self.hwm: dict[int, int] = {}  # pid -> last VmHWM (KiB)
        self.total_peak = 0  # max over samples of the summed RSS of all processes
        self.roles: dict[int, str] = {}  # pid -> daemon / worker / indexer

    def pids(self) -> list[int]:
        try:
            with open(f"/proc/{self.pid}/task/{self.pid}/children") as fh:
                kids = [int(p) for p in fh.read().split()]
        except OSError:
            kids = []
        return [self.pid, *kids]

    def sample(self) -> None:
        total = 0
        for pid in self.pids():
            try:
                rss, hwm = rss_kib(pid)
            except (OSError, ValueError):
                continue
            if pid not in self.roles:
                self.roles[pid] = role_of(pid, self.pid)
            self.peak[pid] = max(self.peak.get(pid, 0), rss)
            self.hwm[pid] = hwm
            total += rss
        self.total_peak = max(self.total_peak, total)

    def run(self) -> None:
        while not self.stopping.is_set():
            self.sample()
            time.sleep(self.interval)

    def finish(self) -> None:
        self.sample()
        self.stopping.set()
        self.join(timeout=5)


def mb(kib: int) -> str:
    return f"{kib / 1024:.0f} MB"


def role_of(pid: int, main_pid: int) -> str:
    if pid == main_pid:
        return "daemon"
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as fh:
            cmd = fh.read()
    except OSError:
        cmd = b""
    if b"mailops.smtp.workers" in cmd:
        return f"worker {pid}"
    if b"mailops.smtp.indexer" in cmd:
        return f"indexer {pid}"
    return f"child {pid}"


def describe(sampler: Sampler, main_pid: int) -> str:
    parts = []
    for pid in sorted(sampler.peak, key=lambda p: p != main_pid):
        role = sampler.roles.get(pid) or role_of(pid, main_pid)
        parts.append(f"{role}: peak RSS {mb(sampler.peak[pid])}, VmHWM {mb(sampler.hwm[pid])}")
    if len(sampler.peak) > 1:
        parts.append(f"all processes together: {mb(sampler.total_peak)}")
    return "; ".join(parts)


def ingest(messages: int, workers: tuple[str, ...]) -> None:
    print(f"1. smtp-source -s 8 -m {messages} -l 4000")
    for name in ("mailops", "baseline"):
        server = mailops_serve(*workers) if name == "mailops" else baseline_server()
        with server as srv:
            time.sleep(0.5)  # the indexer child starts
            sampler = Sampler(srv.pid)
            sampler.start()
            elapsed = smtp_source(srv.port, 8, messages, 4000)
            time.sleep(0.5)
            sampler.finish()
            print(f"   {name:8s} ({messages / elapsed:.0f} msg/s): {describe(sampler, srv.pid)}")


def big_message(size_mb: int) -> bytes:
    """A message with a base64 attachment (random bytes) of about size_mb MB in all."""
    payload = base64.encodebytes(os.urandom(int(size_mb * 1e6 * 3 / 4)))
    payload = payload.replace(b"\n", b"\r\n")
    head = (b"From: big@example.test\r\nTo: x@example.test\r\nSubject: big one\r\n"
            b"MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=BOUND\r\n\r\n"
            b"--BOUND\r\nContent-Type: text/plain\r\n\r\nsee attachment\r\n"
            b"--BOUND\r\nContent-Type: application/octet-stream\r\n"
            b"Content-Transfer-Encoding: base64\r\n"
            b"Content-Disposition: attachment; filename=blob.bin\r\n\r\n")
    return head + payload + b"--BOUND--\r\n"


def big(size_mb: int, workers: tuple[str, ...]) -> None:
    raw = big_message(size_mb)
    size = len(raw)
    print(f"2. one {size / 1e6:.1f} MB message over smtplib (--max-size 50000000)")
    for name in ("mailops", "baseline"):
        server = (mailops_serve("--max-size", "50000000", *workers) if name == "mailops"
                  else baseline_server())
        with server as srv:
            time.sleep(0.5)
            sampler = Sampler(srv.pid, interval=0.005)
            sampler.start()
            idle = rss_kib(srv.pid)[0]
            start = time.monotonic()
            with smtplib.SMTP("127.0.0.1", srv.port, timeout=300) as smtp:
                smtp.sendmail("big@example.test", ["x@example.test"], raw)
            took = time.monotonic() - start
            if name == "mailops":
                # Wait until the indexer has parsed it too (its memory counts).
                assert srv.home is not None
                deadline = time.monotonic() + 120
                while time.monotonic() < deadline:
                    out = subprocess.run(
                        ["sqlite3", str(srv.home / "mailops.db"),
                         "SELECT count(*) FROM messages WHERE indexed = 0"],
                        capture_output=True, text=True)
                    if out.returncode != 0 or out.stdout.strip() == "0":
                        break
                    time.sleep(0.1)
            time.sleep(0.3)
            sampler.finish()
            # Whichever SMTP process (main or worker) took the connection holds it.
            peak = max(kib for pid, kib in sampler.peak.items()
                       if not sampler.roles.get(pid, "").startswith("indexer"))
            print(f"   {name:8s} ({took:.1f} s): idle {mb(idle)}; {describe(sampler, srv.pid)}")
            print(f"            SMTP process peak / message size: {peak * 1024 / size:.2f}x"
                  f" (target < 4x = {4 * size / 1e6 / 1.048576:.0f} MB)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=10_000)
    parser.add_argument("--big-mb", type=int, default=40)
    parser.add_argument("--workers", default=None,
                        help="mailops serve --workers (default: the daemon's own default)")
    args = parser.parse_args()
    workers = ("--workers", args.workers) if args.workers else ()
    print(f"machine: {machine()}")
    ingest(args.messages, workers)
    big(args.big_mb, workers)


if __name__ == "__main__":
    main()
