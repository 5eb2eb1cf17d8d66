"""Where `mailops import` spends its CPU, and the best rate two cores could give.

Each stage of an import runs alone, in this process, over the same messages of the
synthetic corpus (bench/corpus.py, seed 1, held in memory), and is timed in CPU
seconds per message:

- hash: sha256 of the raw bytes (duplicate detection);
- stdlib parse: `email.message_from_bytes(raw, policy=compat32)`, the cheapest
  stdlib parse that reads every part: the floor for any parser built on `email`;
- summarize: mailops.mime.summarize (that parse plus decoded headers, addresses,
  body text, attachment names); "stdlib only" is the same without its fast path
  (mailops.mimefast), measured interleaved with it;
- rust parse: `fast_mail_parser.parse_email`, the Rust parser the fast path uses
  for structure, reading every field it offers (headers, addresses, decoded texts,
  attachments): what a summary taken from it alone, without the stdlib's objects,
  would start from;
- prepare: compressing the raw message and laying out the row (mailops.store.prepare);
- hand-over: pickling the raw bytes to a worker and the prepared row back;
- writer: `Store.add_prepared` into a fresh store (one transaction per 500, as an
  import writes), the single SQLite writer;
- bare FTS5: the same texts inserted into a bare external-content FTS5 table with
  the store's tokenizer and the import's settings (batch, FTS5 hashsize) and
  nothing else: the floor for any writer that indexes them.

The two writers are also timed by the wall clock, since they wait for the disk:
a writer alone, with nothing else running, is the most any import into one
SQLite file could reach, however its parsing is spread (`--messages 20000` times
them on the whole corpus, whose index grows as an import's does).

The baseline, measured in the same run, is the stdlib floor (stdlib parse + bare
FTS5): the rate no importer that runs the stdlib's line-by-line parse and SQLite
FTS5 could pass on this machine. The fast path (mailops.mimefast) skips that loop,
so summarize can now cost less than the stdlib parse line. The stages' sum is what
the import would cost with a free pipeline: `bench/import.py` measures the real
one (reading files, worker processes, hand-over), whose CPU per message is higher.

    uv run python bench/import_ceiling.py [--messages 3000] [--cores 2]
"""

from __future__ import annotations

import argparse
import email
import functools
import hashlib
import os
import pickle
import sqlite3
import time
from collections.abc import Callable
from email import policy
from pathlib import Path

import fast_mail_parser
import zstandard
from _harness import machine, temp_dir
from corpus import messages

from mailops import mime
from mailops.mime import Parsed, summarize
from mailops.store import Incoming, Store
from mailops.store.store import BULK_FTS_HASH, ZSTD_LEVEL, Prepared, prepare

_BATCH = 500  # messages per transaction, as BATCH_MESSAGES


def cpu_per_message(n: int, work: Callable[[], object],
                    walls: dict[str, float] | None = None, name: str = "") -> float:
    """CPU milliseconds per message of one call of `work` over n messages; with
    `walls`, also records the wall-clock milliseconds per message under `name`
    (the writers wait for the disk too, so their rate is the wall's)."""
    start, wall = time.process_time(), time.perf_counter()
    work()
    if walls is not None:
        walls[name] = 1000 * (time.perf_counter() - wall) / n
    return 1000 * (time.process_time() - start) / n


def bare_fts(path: Path, texts: list[tuple[object, ...]]) -> None:
    """The texts into a bare external-content FTS5 table (the store's tokenizer)."""
    db = sqlite3.connect(path)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=NORMAL")
    db.execute("CREATE TABLE texts (id INTEGER PRIMARY KEY, subject, sender, recipients, cc,"
               " body, filename)")
    db.execute("CREATE VIRTUAL TABLE texts_fts USING fts5(subject, sender, recipients, cc,"
               " body, filename, content='texts', content_rowid='id',"
               " tokenize='unicode61 remove_diacritics 2')")
    # The pending-entry size an import sets (Store.bulk_writes): one segment a batch.
    db.execute("INSERT INTO texts_fts (texts_fts, rank) VALUES ('hashsize', ?)",
               (BULK_FTS_HASH,))
    for i in range(0, len(texts), _BATCH):
        with db:
            chunk = texts[i:i + _BATCH]
            db.executemany("INSERT INTO texts VALUES (?, ?, ?, ?, ?, ?, ?)", chunk)
            db.executemany("INSERT INTO texts_fts (rowid, subject, sender, recipients, cc,"
                           " body, filename) VALUES (?, ?, ?, ?, ?, ?, ?)", chunk)
    db.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=3000)
    parser.add_argument("--cores", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--target", type=float, default=3000, help="msg/s to compare with")
    args = parser.parse_args()
    n = args.messages
    raws = [m.raw for m in messages(n, 1)]
    print(f"machine: {machine()}; load average {os.getloadavg()[0]:.1f}")
    print(f"{n} messages of the corpus (seed 1), {sum(map(len, raws)) / n / 1024:.1f} KiB"
          " on average; CPU ms per message, each stage alone:")
    parsed: list[Parsed] = []
    prepared: list[Prepared] = []
    compressor = zstandard.ZstdCompressor(level=ZSTD_LEVEL)
    digests = [hashlib.sha256(r).hexdigest() for r in raws]

    def prepare_all() -> None:
        prepared.extend(prepare(Incoming(raw=r, source="import"), p, compressor, d)
                        for r, p, d in zip(raws, parsed, digests, strict=True))

    def hand_over() -> None:
        for r, p in zip(raws, prepared, strict=True):
            pickle.loads(pickle.dumps(r))
            pickle.loads(pickle.dumps(p))

    def summarize_all(fast: bool) -> None:
        # summarize keeps header results across calls; a round after the first would
        # find this corpus's one-off values (subjects, recipient lists) still there,
        # which no import sees (it reads each message once): start each round empty.
        mime._KEPT.__dict__.clear()
        parsed[:] = [summarize(r, fast=fast) for r in raws]

    # summarize with and without its fast path (mailops.mimefast), interleaved A/B
    # (the machine may be busy): the best of 3 rounds each.
    ab: dict[bool, list[float]] = {False: [], True: []}
    for _ in range(3):
        for fast in (False, True):
            ab[fast].append(cpu_per_message(n, functools.partial(summarize_all, fast)))
    stages = {
        "hash": cpu_per_message(n, lambda: [hashlib.sha256(r).hexdigest() for r in raws]),
        "stdlib parse": cpu_per_message(n, lambda: [
            email.message_from_bytes(r, policy=policy.compat32) for r in raws]),
        "summarize (stdlib only)": min(ab[False]),
        "summarize": min(ab[True]),
        "rust parse": cpu_per_message(n, lambda: [
            fast_mail_parser.parse_email(r) for r in raws]),
        "prepare": cpu_per_message(n, prepare_all),
        "hand-over": cpu_per_message(n, hand_over),
    }
    texts = [(i + 1, *p.texts) for i, p in enumerate(prepared)]
    walls: dict[str, float] = {}
    with temp_dir("mailops-bench-ceiling-") as work:
        with Store(work / "mailops.db") as store, store.bulk_writes():
            stages["writer"] = cpu_per_message(n, lambda: [
                store.add_prepared(prepared[i:i + _BATCH], skip_stored=True)
                for i in range(0, n, _BATCH)], walls, "writer")
        stages["bare FTS5"] = cpu_per_message(
            n, lambda: bare_fts(work / "bare.db", texts), walls, "bare FTS5")
    for name, ms in stages.items():
        wall = f"   (wall {walls[name]:.3f} ms: alone, {1000 / walls[name]:,.0f} msg/s)" \
            if name in walls else ""
        print(f"  {name:23s} {ms:6.3f} ms{wall}")
    print(f"summarize: stdlib only / with the fast path {min(ab[False]) / min(ab[True]):.2f}x"
          f" (rounds: stdlib {', '.join(f'{x:.3f}' for x in ab[False])};"
          f" fast {', '.join(f'{x:.3f}' for x in ab[True])} ms)")
    ours = sum(stages[s] for s in ("hash", "summarize", "prepare", "hand-over", "writer"))
    floor = stages["stdlib parse"] + stages["bare FTS5"]
    cores: int = args.cores

    def ceiling(total: float, serial: float) -> float:
        # Work spreads over the cores, but the writer runs alone on one of them and
        # waits for the disk: no import passes the writer's own wall-clock rate.
        return min(1000 * cores / total, 1000 / serial)

    ours_best = ceiling(ours, walls["writer"])
    floor_best = ceiling(floor, walls["bare FTS5"])
    print(f"mailops import: {ours:.3f} ms a message over all stages -> at best"
          f" {ours_best:,.0f} msg/s on {cores} cores")
    print(f"stdlib floor (stdlib parse + bare FTS5 only): {floor:.3f} ms -> at best"
          f" {floor_best:,.0f} msg/s on {cores} cores")
    print(f"ratio mailops/stdlib floor (CPU per message): {ours / floor:.2f}x; mailops's"
          f" stages allow {100 * ours_best / floor_best:.0f}% of the floor's ceiling")
    rust = ours - stages["summarize"] + stages["rust parse"]
    print(f"with a summary from the Rust parser alone (rust parse for summarize):"
          f" {rust:.3f} ms -> at best {ceiling(rust, walls['writer']):,.0f} msg/s on"
          f" {cores} cores (not built: it would give up the stdlib's exact result)")
    need = 1000 * cores / args.target
    print(f"{args.target:,.0f} msg/s on {cores} cores needs <= {need:.3f} ms a message in all:"
          f" the stdlib floor is {floor / need:.2f}x that, mailops's stages {ours / need:.2f}x;"
          f" the writer alone reaches {1000 / walls['writer']:,.0f} msg/s and a bare FTS5"
          f" index of the same texts {1000 / walls['bare FTS5']:,.0f} msg/s (wall clock)")


if __name__ == "__main__":
    main()
