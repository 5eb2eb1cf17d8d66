"""Cost of encryption at rest: a plain vs an encrypted (SQLCipher) store, same run.

Generates the synthetic corpus (bench/corpus.py, seeded) as a maildir, then:

- import: `mailops import MAILDIR --json` (a whole process, wall clock) into a
  fresh plain home and a fresh home made with `mailops init --encrypt
  --key-source keyfile`, alternating, --rounds times each; medians;
- search: the six typical queries of bench/search.py, first page of 50,
  `Store.search` in this process on a fresh read-only Store of each, p50/p95
  over --runs runs, interleaved plain/encrypted;
- open: `Store(path, readonly=True)` plus one count, for the plain store, the
  key-file store and a passphrase store (SQLCipher's PBKDF2 runs on every open);
- size: both stores on disk.

Prints each figure and the ratio encrypted/plain.

    uv run python bench/encryption.py [--messages 5000] [--rounds 3] [--runs 30]
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import cast

from _harness import machine, temp_dir
from corpus import write_maildir
from search import QUERIES, pct

from mailops.store import Store, crypto


def mailops_cmd(home: Path, *args: str, env: dict[str, str] | None = None) -> str:
    out = subprocess.run([sys.executable, "-m", "mailops.commands", *args],
                         env={**os.environ, "MAILOPS_HOME": str(home), **(env or {})},
                         capture_output=True, text=True)
    if out.returncode != 0:
        raise RuntimeError(f"mailops {' '.join(args)} failed: {out.stderr[-800:]}")
    return out.stdout


def import_once(maildir: Path, home: Path, key: Path | None) -> float:
    if key is not None:
        mailops_cmd(home, "init", "--encrypt", "--key-file", str(key))
    start = time.perf_counter()
    mailops_cmd(home, "import", str(maildir), "--json")
    return time.perf_counter() - start


def store_bytes(home: Path) -> int:
    return sum(p.stat().st_size for p in home.iterdir() if p.name.startswith("mailops.db"))


def connect_unkeyed(path: Path) -> sqlite3.Connection:
    """A read-only sqlcipher3 connection with no key (a plain database)."""
    db = crypto._sqlcipher().connect(f"file:{path}?mode=ro", uri=True, isolation_level=None)
    db.row_factory = crypto._sqlcipher().Row
    db.execute("PRAGMA cache_size = -16000")  # as encrypted connections get
    return cast(sqlite3.Connection, db)


def open_time(path: Path, runs: int) -> float:
    """Median seconds to open a store read-only and read one count."""
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        with Store(path, readonly=True) as store:
            store.count()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=5000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--runs", type=int, default=30)
    args = parser.parse_args()
    print(f"machine: {machine()}; load average {os.getloadavg()[0]:.1f}")
    with temp_dir("mailops-bench-encryption-") as work:
        maildir = work / "Maildir"
        write_maildir(maildir, args.messages, args.seed)
        key = work / "store.key"
        plain_t: list[float] = []
        enc_t: list[float] = []
        for n in range(args.rounds):  # alternating: drifting load hits both alike
            plain_t.append(import_once(maildir, work / f"plain-{n}", None))
            enc_t.append(import_once(maildir, work / f"enc-{n}", key))
        p_imp, e_imp = statistics.median(plain_t), statistics.median(enc_t)
        print(f"import {args.messages} messages: plain {args.messages / p_imp:6.0f} msg/s,"
              f" encrypted {args.messages / e_imp:6.0f} msg/s;"
              f" time ratio encrypted/plain {e_imp / p_imp:.2f}x")
        plain_home, enc_home = work / "plain-0", work / "enc-0"
        ps, es = store_bytes(plain_home), store_bytes(enc_home)
        print(f"store size: plain {ps / 1e6:.1f} MB, encrypted {es / 1e6:.1f} MB"
              f" ({es / ps:.2f}x)")

        plain = Store(plain_home / "mailops.db", readonly=True)
        enc = Store(enc_home / "mailops.db", readonly=True)
        # The plain store read through sqlcipher3 without a key: tells the library's
        # own cost (another SQLite build) from the cost of decrypting.
        lib = Store(plain_home / "mailops.db", readonly=True)
        lib.db.close()
        lib.db = connect_unkeyed(plain_home / "mailops.db")
        p50s: list[tuple[float, float, float]] = []
        for label, query, _ in QUERIES:
            tp: list[float] = []
            tl: list[float] = []
            te: list[float] = []
            for _ in range(args.runs):
                for store, bucket in ((plain, tp), (lib, tl), (enc, te)):
                    start = time.perf_counter()
                    rows = store.search(query, limit=50)
                    bucket.append(time.perf_counter() - start)
            assert len(rows) == len(plain.search(query, limit=50))  # same answers
            p50s.append((pct(tp, 50), pct(tl, 50), pct(te, 50)))
            print(f"search {label:15}: plain p50 {pct(tp, 50):6.2f} ms p95 {pct(tp, 95):6.2f}"
                  f" | sqlcipher3 no key p50 {pct(tl, 50):6.2f}"
                  f" | encrypted p50 {pct(te, 50):6.2f} ms p95 {pct(te, 95):6.2f}"
                  f" | p50 ratio {pct(te, 50) / pct(tp, 50):.2f}x")
        for store in (plain, lib, enc):
            store.close()
        geo = statistics.geometric_mean([e / p for p, _, e in p50s])
        geo_lib = statistics.geometric_mean([lb / p for p, lb, _ in p50s])
        print(f"search p50 ratio encrypted/plain (geometric mean of the six): {geo:.2f}x"
              f" (sqlcipher3 without a key: {geo_lib:.2f}x)")

        # End to end, cold: a whole `mailops search` process (key file read, pages
        # decrypted from scratch), interleaved.
        cli_p: list[float] = []
        cli_e: list[float] = []
        for _ in range(max(3, args.runs // 6)):
            for home, bucket in ((plain_home, cli_p), (enc_home, cli_e)):
                start = time.perf_counter()
                mailops_cmd(home, "search", QUERIES[1][1], "--json")
                bucket.append(time.perf_counter() - start)
        c_p, c_e = statistics.median(cli_p), statistics.median(cli_e)
        print(f"`mailops search` process: plain {c_p * 1000:.0f} ms, encrypted"
              f" {c_e * 1000:.0f} ms ({c_e / c_p:.2f}x)")

        # A passphrase store: SQLCipher's PBKDF2 (256,000 iterations) on every open.
        pass_home = work / "pass"
        secret = {"MAILOPS_PASSPHRASE": "bench passphrase"}
        mailops_cmd(pass_home, "init", "--encrypt", "--key-source", "passphrase", env=secret)
        os.environ.update(secret)
        runs = max(3, args.runs // 6)
        o_plain = open_time(plain_home / "mailops.db", runs)
        o_key = open_time(enc_home / "mailops.db", runs)
        o_pass = open_time(pass_home / "mailops.db", runs)
        print(f"open + count: plain {o_plain * 1000:.1f} ms, key file {o_key * 1000:.1f} ms,"
              f" passphrase {o_pass * 1000:.1f} ms")
        print(json.dumps({"import_ratio": round(e_imp / p_imp, 2),
                          "search_p50_ratio": round(geo, 2),
                          "search_p50_ratio_sqlcipher_unkeyed": round(geo_lib, 2),
                          "size_ratio": round(es / ps, 2),
                          "cli_search_ratio": round(c_e / c_p, 2),
                          "open_ms": {"plain": round(o_plain * 1000, 1),
                                      "keyfile": round(o_key * 1000, 1),
                                      "passphrase": round(o_pass * 1000, 1)}}))


if __name__ == "__main__":
    main()
