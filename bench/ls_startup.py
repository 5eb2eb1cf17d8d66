"""CLI latency: `mailops ls` over 100,000 stored messages, and `mailops --help`.

Both are wall times of the whole CLI process (interpreter start-up included),
measured against `python -c pass` in the same run; medians of several runs.
The store is generated here through the Store API (synthetic messages, big
batches) in a throwaway MAILOPS_HOME.

    uv run python bench/ls_startup.py [--messages 100000] [--runs 9]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from _harness import machine, median, temp_dir

from mailops.mime import Parsed
from mailops.store import Incoming, Store

WORDS = ["invoice", "report", "meeting", "password", "reset", "welcome", "order", "shipped",
         "account", "alert", "weekly", "digest", "newsletter", "quarterly", "budget", "review",
         "release", "notes"]


def synthetic(n: int, now: float) -> tuple[Incoming, Parsed]:
    """One synthetic message with its summary (no MIME parsing needed)."""
    subject = f"{WORDS[n % len(WORDS)]} {WORDS[(n * 7) % len(WORDS)]} #{n}"
    sender = f"user{n % 997}@example.test"
    rcpt = f"team{n % 13}@example.test"
    date = time.strftime("%a, %d %b %Y %H:%M:%S +0000", time.gmtime(now - 60 * n))
    body = f"Hello,\r\n\r\nthis is message {n} about {subject}.\r\n"
    raw = (f"From: {sender}\r\nTo: {rcpt}\r\nSubject: {subject}\r\nDate: {date}\r\n"
           f"Message-ID: <{n}@example.test>\r\n\r\n{body}").encode()
    parsed = Parsed(message_id=f"{n}@example.test", subject=subject, from_=sender, to=[rcpt],
                    date=time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime(now - 60 * n)),
                    date_ts=now - 60 * n, text=body)
    item = Incoming(raw=raw, mail_from=sender, rcpt_to=[rcpt], peer="127.0.0.1:1025",
                    source="bench", received_at=now - 60 * n)
    return item, parsed


def fill(path: Path, count: int) -> float:
    """Store `count` synthetic messages; returns seconds taken."""
    start = time.monotonic()
    now = time.time()
    with Store(path) as store:
        batch = 5000
        for first in range(0, count, batch):
            store.add_parsed([synthetic(n, now) for n in range(first, min(count, first + batch))])
    return time.monotonic() - start


def wall(cmd: list[str], env: dict[str, str], runs: int) -> tuple[float, list[float]]:
    """Median wall time of a command over `runs` runs (after one warm-up run)."""
    times: list[float] = []
    for i in range(runs + 1):  # the first run writes the byte-code cache
        start = time.perf_counter()
        proc = subprocess.run(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        elapsed = time.perf_counter() - start
        if proc.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd)} failed: {proc.stderr.decode()[-500:]}")
        if i:
            times.append(elapsed)
    return median(times), times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=9)
    args = parser.parse_args()
    mailops = shutil.which("mailops") or str(Path(sys.executable).with_name("mailops"))
    print(f"machine: {machine()}")
    with temp_dir("mailops-bench-ls-") as home:
        took = fill(home / "mailops.db", args.messages)
        size = (home / "mailops.db").stat().st_size / 1e6
        print(f"store: {args.messages} synthetic messages generated in {took:.1f} s"
              f" ({size:.0f} MB)")
        env = {**os.environ, "MAILOPS_HOME": str(home), "NO_COLOR": "1", "COLUMNS": "120"}
        # Measure as installed: with byte-code caches (pip compiles them at install).
        # They go to a temporary prefix, so the work tree gets no __pycache__ dirs.
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env["PYTHONPYCACHEPREFIX"] = str(home / "pycache")
        # Interleave the commands run by run so machine noise hits all alike.
        cases = {
            "python -c pass": [sys.executable, "-c", "pass"],
            "mailops --help": [mailops, "--help"],
            "mailops ls": [mailops, "ls"],
            "mailops ls --json": [mailops, "ls", "--json"],
        }
        times: dict[str, list[float]] = {name: [] for name in cases}
        for _ in range(args.runs):
            for name, cmd in cases.items():
                times[name].extend(wall(cmd, env, 1)[1])
        base = median(times["python -c pass"])
        for name, values in times.items():
            m = median(values)
            print(f"{name:20s} median {m * 1000:6.0f} ms  (min {min(values) * 1000:.0f},"
                  f" max {max(values) * 1000:.0f})  {m / base:5.1f}x python -c pass,"
                  f" {1000 * (m - base):+.0f} ms over it")
        print("targets: mailops ls < 200 ms, mailops --help < 300 ms (wall, whole process)")


if __name__ == "__main__":
    main()
