"""Durable ingest rate: `mailops serve` vs a bare aiosmtpd server, same run.

smtp-source (Postfix) sends the same load to both, alternating, a few times;
medians and the ratio are printed. Then, while mailops ingests once more, a probe sends a
tagged message every so often and measures how long after its 250 reply the
message is findable by full-text search (the indexer's lag); that run is extra
and not part of the rate medians.

    uv run python bench/ingest.py [--runs 3] [--sessions 8] [--messages 5000] [--length 4000]
                                  [--workers N|auto] [--cpu N]

`--workers` goes to `mailops serve` only (default: the daemon's default, auto);
the baseline stays one process on the default asyncio loop.

`--cpu N` instead runs N smtp-source loads against mailops and prints the CPU time
(user + system, from /proc/PID/stat) each process spent per message: the main
process, each SMTP worker, the indexer child (counted until every message is
indexed) and smtp-source itself. On a shared machine CPU time is far steadier
than a rate.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import smtplib
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

from _harness import (
    SMTP_SOURCE,
    baseline_server,
    machine,
    mailops_serve,
    median,
    smtp_source,
    workers_used,
)

from mailops.store import Store


class LagProbe(threading.Thread):
    """Every `interval` s: send one tagged message, then poll search until it shows up."""

    def __init__(self, port: int, store_path: Path, interval: float = 0.25) -> None:
        super().__init__(daemon=True)
        self.port = port
        self.store_path = store_path
        self.interval = interval
        self.lags: list[float] = []
        self.sent = 0
        self.stopping = threading.Event()

    def run(self) -> None:
        store: Store | None = None
        try:
            while not self.stopping.is_set():
                token = "probe" + uuid.uuid4().hex[:12]
                raw = (f"From: probe@example.test\r\nTo: x@example.test\r\n"
                       f"Subject: {token}\r\n\r\nlag probe {token}\r\n").encode()
                with smtplib.SMTP("127.0.0.1", self.port, timeout=60) as smtp:
                    smtp.sendmail("probe@example.test", ["x@example.test"], raw)
                acked = time.monotonic()
                self.sent += 1
                if store is None:
                    store = Store(self.store_path, readonly=True)
                while not store.list(token, limit=1):
                    if time.monotonic() - acked > 30:
                        raise RuntimeError("probe message not searchable after 30 s")
                    time.sleep(0.005)
                self.lags.append(time.monotonic() - acked)
                self.stopping.wait(self.interval)
        finally:
            if store is not None:
                store.close()


def run_mailops(args: argparse.Namespace, lag: bool = False) -> tuple[float, list[float]]:
    """One smtp-source run; with `lag`, a LagProbe runs beside it (not a timed run:
    the probe's own client and polling take CPU the baseline runs do not pay)."""
    extra = ("--workers", args.workers) if args.workers else ()
    with mailops_serve(*extra) as srv:
        assert srv.home is not None
        args.workers_used = workers_used(srv)
        store_path = srv.home / "mailops.db"
        probe = LagProbe(srv.port, store_path)
        if lag:
            probe.start()
        elapsed = smtp_source(srv.port, args.sessions, args.messages, args.length)
        if lag:
            probe.stopping.set()
            probe.join(timeout=60)
        srv.stop()
        with Store(store_path, readonly=True) as store:
            stored = store.count()
            pending = store.pending_count()
    expected = args.messages + probe.sent
    if stored != expected:
        raise RuntimeError(f"mailops stored {stored} messages, expected {expected}")
    if pending:
        print(f"  note: {pending} messages still unindexed after stop", file=sys.stderr)
    return args.messages / elapsed, probe.lags


def run_baseline(args: argparse.Namespace) -> float:
    with baseline_server() as srv:
        elapsed = smtp_source(srv.port, args.sessions, args.messages, args.length)
    return args.messages / elapsed


_TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int, tid: int | None = None) -> float:
    """utime + stime of a process (or one of its threads) so far, from /proc."""
    path = f"/proc/{pid}/stat" if tid is None else f"/proc/{pid}/task/{tid}/stat"
    with open(path) as fh:
        fields = fh.read().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / _TICK


def thread_cpu(pid: int) -> dict[str, float]:
    """CPU seconds of a process's main thread (its event loop) and of all its other
    threads together (the group-commit writer)."""
    out = {"loop": 0.0, "threads": 0.0}
    for tid in os.listdir(f"/proc/{pid}/task"):
        with contextlib.suppress(OSError):
            out["loop" if int(tid) == pid else "threads"] += cpu_seconds(pid, int(tid))
    return out


def children(pid: int) -> dict[int, str]:
    """Direct child processes of pid -> a role name (indexer, worker)."""
    out: dict[int, str] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as fh:
                ppid = int(fh.read().rpartition(")")[2].split()[1])
            with open(f"/proc/{entry}/cmdline", "rb") as fh:
                cmd = fh.read().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if ppid == pid:
            out[int(entry)] = ("indexer" if "smtp.indexer" in cmd
                               else "worker" if "smtp.workers" in cmd else "child")
    return out


def run_cpu(args: argparse.Namespace) -> dict[str, float]:
    """One smtp-source load; CPU ms per message of each process (summed by role)."""
    extra = ("--workers", args.workers) if args.workers else ()
    with mailops_serve(*extra) as srv:
        assert srv.home is not None
        time.sleep(0.5)  # let the children finish importing before the first sample
        procs = {srv.pid: "main", **children(srv.pid)}
        before = {pid: cpu_seconds(pid) for pid in procs}
        main_before = thread_cpu(srv.pid)
        start = time.monotonic()
        src = subprocess.Popen(
            [SMTP_SOURCE, "-s", str(args.sessions), "-m", str(args.messages), "-l",
             str(args.length), "-f", "src@example.test", "-t", "dst@example.test",
             f"127.0.0.1:{srv.port}"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        _, status, usage = os.wait4(src.pid, 0)
        src.returncode = os.waitstatus_to_exitcode(status)
        elapsed = time.monotonic() - start
        if src.returncode != 0:
            raise RuntimeError(f"smtp-source failed ({src.returncode})")
        with Store(srv.home / "mailops.db", readonly=True) as store:
            while store.pending_count():
                time.sleep(0.01)
        indexed = time.monotonic() - start
        after = {pid: cpu_seconds(pid) for pid in procs}
        main_after = thread_cpu(srv.pid)
    ms: dict[str, float] = {"smtp-source": (usage.ru_utime + usage.ru_stime) * 1000}
    for pid, role in procs.items():
        ms[role] = ms.get(role, 0.0) + (after[pid] - before[pid]) * 1000
    for part in ("loop", "threads"):  # the main process's share, split (not in total)
        ms[f"main {part}"] = (main_after[part] - main_before[part]) * 1000
    out = {role: value / args.messages for role, value in ms.items()}
    out["total"] = sum(v for k, v in out.items() if not k.startswith("main "))
    out["rate"] = args.messages / elapsed
    out["lag"] = indexed - elapsed
    return out


def main_cpu(args: argparse.Namespace) -> None:
    """`--cpu N`: CPU ms per message, per process, N runs and their medians."""
    print(f"machine: {machine()}; load average {os.getloadavg()[0]:.1f}")
    print(f"load: smtp-source -s {args.sessions} -m {args.messages} -l {args.length},"
          f" {args.cpu} runs; CPU ms per message (user + system)")
    runs = []
    for i in range(args.cpu):
        r = run_cpu(args)
        runs.append(r)
        print(f"  run {i + 1}: " + ", ".join(
            f"{k} {v:.3f}" for k, v in r.items() if k not in ("rate", "lag"))
            + f"; {r['rate']:.0f} msg/s, indexed {r['lag'] * 1000:.0f} ms after the last 250",
            flush=True)
    keys = [k for k in runs[0] if k not in ("rate", "lag")]
    print("median: " + ", ".join(f"{k} {median([r[k] for r in runs]):.3f} ms" for k in keys))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--sessions", type=int, default=8)
    parser.add_argument("--messages", type=int, default=5000)
    parser.add_argument("--length", type=int, default=4000)
    parser.add_argument("--workers", default=None,
                        help="mailops serve --workers (default: the daemon's own default)")
    parser.add_argument("--cpu", type=int, default=0, metavar="N",
                        help="measure CPU ms per message per process over N runs instead")
    args = parser.parse_args()
    if args.cpu:
        main_cpu(args)
        return
    print(f"machine: {machine()}")
    print(f"load: smtp-source -s {args.sessions} -m {args.messages} -l {args.length},"
          f" {args.runs} runs each, alternating")
    ours: list[float] = []
    base: list[float] = []
    for i in range(args.runs):
        # Alternate which goes first so drift on a noisy machine hits both alike.
        order = ("mailops", "baseline") if i % 2 == 0 else ("baseline", "mailops")
        for name in order:
            if name == "mailops":
                rate, _ = run_mailops(args)
                ours.append(rate)
                print(f"  run {i + 1} mailops : {rate:7.0f} msg/s", flush=True)
            else:
                rate = run_baseline(args)
                base.append(rate)
                print(f"  run {i + 1} baseline: {rate:7.0f} msg/s", flush=True)
    rate, lags = run_mailops(args, lag=True)
    print(f"  lag run mailops: {rate:7.0f} msg/s with a probe message every 0.25 s"
          " (not in the medians)", flush=True)
    m_ours, m_base = median(ours), median(base)
    print(f"mailops serve (durable, uvloop, {args.workers_used} SMTP processes):"
          f" median {m_ours:.0f} msg/s")
    print(f"bare aiosmtpd (asyncio, stores nothing): median {m_base:.0f} msg/s")
    print(f"ratio mailops/baseline: {m_ours / m_base:.2f}x")
    if lags:
        lags.sort()
        p95 = lags[min(len(lags) - 1, int(len(lags) * 0.95))]
        print(f"search lag (250 -> findable) under load: median {median(lags) * 1000:.0f} ms,"
              f" p95 {p95 * 1000:.0f} ms, max {lags[-1] * 1000:.0f} ms, {len(lags)} probes")


if __name__ == "__main__":
    main()
