"""Query latency on a large store: mailops (engine and CLI) vs `notmuch search`, same run.

Builds one corpus (bench/corpus.py, seeded) twice:

- as a maildir indexed by `notmuch new` (fresh database; NOTMUCH_CONFIG points
  at a config written here);
- as a mailops store filled through the store's bulk path (`Store.add_prepared`,
  as `mailops import` writes) with the fields the generator knows (subject,
  addresses, date, body text, attachment names, threading headers), i.e. the
  same content without running the MIME parser; the generator runs in another
  process while this one writes.

With --no-notmuch (sizes notmuch cannot index in a run, e.g. 1,000,000), only
the mailops store is built, from independently generated shards of the corpus
(`corpus.messages_shard`) in one process per CPU.

Then, for each typical query, the first page of 50 newest-first:

- engine: `Store.search(query, limit=50)` in this process (a fresh read-only
  Store), p50/p95 over --runs runs;
- `notmuch search --limit=50 QUERY` (a process each time: notmuch has no
  in-process API here), p50/p95 over the same number of runs, interleaved;
- `mailops search QUERY` end to end (a whole CLI process), p50 of --cli-runs.

    uv run python bench/search.py [--messages 50000] [--runs 30] [--cli-runs 3]
    uv run python bench/search.py --messages 1000000 --no-notmuch

With --store PATH, an existing store is measured: the queries (plus the TUI's tag, folder and
no-match cases, and terms of several densities) run against an existing store, engine only,
then the TUI's path (`listing.page`, 100 rows, scope `-folder:Trash`) and its count; --plans
prints `EXPLAIN QUERY PLAN` for each (for a two-stage page, `walk.two_stage`, the walk's
plan and the match its chunks are tested against). Open the store writable once first so
migrations apply:

    uv run python bench/search.py --store /tmp/qp/mailops.db --plans
    uv run python bench/search.py --store /tmp/qp/mailops.db --walk   # the threshold
    uv run python bench/search.py --store /tmp/qp/real/mailops.db --messages 200000
(the second fills /tmp/qp/real/mailops.db with the corpus first if it does not exist)

At 1,000,000 against notmuch, build once and measure when the machine is quiet:

    XAPIAN_FLUSH_THRESHOLD=100000 uv run python bench/search.py --messages 1000000 \
        --work /tmp/nm1m --sharded --drop-maildir --build-only
    uv run python bench/search.py --messages 1000000 --work /tmp/nm1m --sharded

--work keeps the maildir, notmuch's database and the store in DIR, reuses each part
that a previous run finished and finishes what a stopped run left (`notmuch new` adds
only what it has not indexed; a sharded fill goes on after the batches stored);
--sharded generates both the maildir and the store from the same independently
generated shards, in one process per CPU; --drop-maildir deletes
the maildir once notmuch has indexed it (`notmuch search` reads only its database), so
that the three never need disk at once.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import shutil
import statistics
import subprocess
import sys
import time
from collections import deque
from collections.abc import Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from contextlib import contextmanager
from multiprocessing.queues import Queue
from pathlib import Path

import zstandard
from _harness import machine, temp_dir
from corpus import Message, messages, messages_shard, write_maildir, write_message

from mailops.mime import Parsed
from mailops.query import And, parse
from mailops.store import Incoming, Store, listing
from mailops.store import walk as store_walk
from mailops.store.querysql import planning
from mailops.store.search import compile_text
from mailops.store.store import ZSTD_LEVEL, Prepared, prepare

NOTMUCH = shutil.which("notmuch") or "/usr/bin/notmuch"
_FILL_BATCH = 2000  # messages per store transaction (and per generator task)

# (label, mailops query, equivalent notmuch query)
QUERIES = [
    ("field term", "from:alice", "from:alice"),
    ("two words", "budget review", "budget and review"),
    ("phrase", '"café menu"', '"café menu"'),
    ("date range", "date:2025-03-01..2025-03-31", "date:2025-03-01..2025-03-31"),
    ("negation", "invoice -from:alice", "invoice and not from:alice"),
    ("has:attachment", "has:attachment", "tag:attachment"),
]
# More first-page cases for --store (engine only): the TUI's views and the worst cases.
STORE_QUERIES = [
    ("after:30d", "after:30d"),
    ("-tag:spam", "-tag:spam"),
    ("NOT word", "NOT budget"),
    ("tag:work", "tag:work"),
    ("folder unread", "folder:INBOX is:unread"),
    ("no match", "from:nobody-at-all"),
    ("no-match filter", "larger:1000000000"),
    # Densities between rare and common (on bench/tui.py's store: a subject word ~4%,
    # one sender ~0.3%), a negated common field, and folders in any case.
    ("subject word", "subject:report"),
    ("one sender", "from:alice10"),
    ("NOT field", "-from:alice"),
    ("folder, any case", "folder:inbox from:alice"),
    ("small folder", "folder:Archive"),
    ("tag, no unread", "tag:work is:unread"),
    ("tag + filter", "tag:work has:attachment"),
    # Flags: none replied, 2% flagged, 30% unread on bench/tui.py's store.
    ("no-match flag", "is:replied"),
    ("flag + filter", "is:flagged has:attachment"),
    ("unread word", "is:unread budget"),
]
# The TUI's path (mailops.store.listing.page, 100 rows): its default scope ANDed with
# the search bar's query, in two sorts; and the count that sizes its scroll bar.
LISTING = [("from:alice", "date"), ("budget review", "date"), ("NOT budget", "date"),
           ("from:alice", "sender"), ("has:attachment", "date"), ("tag:work", "date"),
           ("tag:work is:unread", "date"), ("from:nobody-at-all", "date"),
           ("tag:work", "sender"), ("tag:work budget", "date"), ("is:read", "date"),
           ("is:replied", "date")]


def _prepared(m: Message, compressor: zstandard.ZstdCompressor) -> Prepared:
    """A generated message as the store's bulk path takes it (no MIME parsing)."""
    parsed = Parsed(
        message_id=m.message_id, subject=m.subject, from_=m.from_, to=m.to, cc=m.cc,
        date=time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime(m.date_ts)),
        date_ts=m.date_ts, text=m.text, has_html=m.has_html, attachments=m.attachments,
        in_reply_to=m.in_reply_to, references=m.references)
    return prepare(Incoming(raw=m.raw, source="import", received_at=m.date_ts), parsed,
                   compressor)


def _shard(n: int, seed: int, start: int, stop: int) -> list[Prepared]:
    compressor = zstandard.ZstdCompressor(level=ZSTD_LEVEL)
    return [_prepared(m, compressor) for m in messages_shard(n, seed, start, stop)]


def _in_order(n: int, seed: int, out: Queue[list[Prepared] | None]) -> None:
    compressor = zstandard.ZstdCompressor(level=ZSTD_LEVEL)
    batch: list[Prepared] = []
    for m in messages(n, seed):
        batch.append(_prepared(m, compressor))
        if len(batch) >= _FILL_BATCH:
            out.put(batch)
            batch = []
    out.put(batch or None)
    out.put(None)


def _batches(n: int, seed: int, sharded: bool, first: int = 0) -> Iterator[list[Prepared]]:
    """Prepared batches of the corpus, generated in other processes (sharded: from
    message `first` on, a multiple of _FILL_BATCH)."""
    fork = multiprocessing.get_context("fork")
    if not sharded:  # the exact corpus of `messages(n, seed)`: one generator process
        queue: Queue[list[Prepared] | None] = fork.Queue(maxsize=4)
        proc = fork.Process(target=_in_order, args=(n, seed, queue), daemon=True)
        proc.start()
        while (batch := queue.get()) is not None:
            yield batch
        proc.join()
        return
    with ProcessPoolExecutor(os.cpu_count(), mp_context=fork) as pool:
        starts = iter(range(first, n, _FILL_BATCH))
        ahead: deque[Future[list[Prepared]]] = deque()
        for start in starts:
            ahead.append(pool.submit(_shard, n, seed, start, min(n, start + _FILL_BATCH)))
            if len(ahead) > 2 * (os.cpu_count() or 1):
                yield ahead.popleft().result()
        while ahead:
            yield ahead.popleft().result()


def fill_store(path: Path, n: int, seed: int, *, sharded: bool = False) -> int:
    """The corpus into a mailops store through its bulk path (`Store.add_prepared`,
    as `mailops import` uses), generated in parallel with the writes; returns how
    many messages this call added."""
    started = time.monotonic()
    with Store(path) as store:
        # Each batch is one transaction, written in order: a stopped sharded fill
        # goes on from the batches already stored.
        done = store.count() if sharded else 0
        if done % _FILL_BATCH and done != n:
            raise SystemExit(f"{path} holds {done} messages, not whole batches: delete it")
        if done:
            print(f"  {done} already stored: going on from there", flush=True)
        resumed = done
        for batch in _batches(n, seed, sharded, done):
            store.add_prepared(batch)
            done += len(batch)
            if done % 100_000 < len(batch) and n >= 200_000:
                print(f"  {done} stored,"
                      f" {(done - resumed) / (time.monotonic() - started):.0f} msg/s", flush=True)
    return done - resumed


def _write_shard(root: Path, n: int, seed: int, start: int, stop: int) -> int:
    total = 0
    for m in messages_shard(n, seed, start, stop):
        total += write_message(root, m)
    return total


def write_maildir_sharded(root: Path, n: int, seed: int) -> int:
    """The sharded corpus (the one `fill_store(..., sharded=True)` stores) as a maildir,
    written by one process per CPU; returns total bytes."""
    for sub in ("cur", "new", "tmp"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    fork = multiprocessing.get_context("fork")
    with ProcessPoolExecutor(os.cpu_count(), mp_context=fork) as pool:
        jobs = [pool.submit(_write_shard, root, n, seed, start, min(n, start + _FILL_BATCH))
                for start in range(0, n, _FILL_BATCH)]
        return sum(job.result() for job in jobs)


def pct(values: list[float], p: float) -> float:
    """The p-th percentile (nearest rank) in ms."""
    ordered = sorted(values)
    return 1000 * ordered[min(len(ordered) - 1, max(0, round(p / 100 * len(ordered)) - 1))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=50_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--cli-runs", type=int, default=3)
    parser.add_argument("--no-notmuch", action="store_true",
                        help="mailops only (for sizes notmuch cannot index in a run, e.g."
                             " 1,000,000): no maildir, the store is filled in parallel from"
                             " independently generated shards of the corpus")
    parser.add_argument("--store", type=Path,
                        help="measure this store (engine only); if it does not exist, fill"
                             " it first with --messages of the corpus, as --no-notmuch does,"
                             " and keep it")
    parser.add_argument("--plans", action="store_true",
                        help="with --store: print EXPLAIN QUERY PLAN for each query")
    parser.add_argument("--walk", nargs="*", metavar="QUERY",
                        help="with --store: only compare, for these queries (default: a"
                             " range of densities), the two-stage page with the one-query"
                             " plan, interleaved (walk.two_stage; same rows checked)")
    parser.add_argument("--work", type=Path,
                        help="keep the maildir, notmuch's database and the store here, and"
                             " reuse each part a previous run with the same DIR finished")
    parser.add_argument("--sharded", action="store_true",
                        help="generate the maildir and the store from the same shards in"
                             " parallel (large corpora)")
    parser.add_argument("--drop-maildir", action="store_true",
                        help="delete the maildir once notmuch has indexed it")
    parser.add_argument("--build-only", action="store_true",
                        help="build (or finish building) and stop before the queries")
    parser.add_argument("--walk-ratio", type=float,
                        help="with --walk: walk.WALK_RATIO for this run (1e9: never"
                             " fall back to the one query)")
    args = parser.parse_args()
    if args.walk_ratio is not None:
        store_walk.WALK_RATIO = args.walk_ratio
    if args.store:
        if not args.store.exists():  # filled as --no-notmuch does, then kept
            start = time.monotonic()
            args.store.parent.mkdir(parents=True, exist_ok=True)
            fill_store(args.store, args.messages, args.seed, sharded=True)
            print(f"{args.store} filled with {args.messages} messages in"
                  f" {time.monotonic() - start:.1f} s")
        if args.walk is not None:
            compare_walk(args.store, args.runs, args.walk or WALK_CASES)
        else:
            measure_store(args.store, args.runs, args.plans)
        return
    mailops = shutil.which("mailops") or str(Path(sys.executable).with_name("mailops"))
    print(f"machine: {machine()}; load average {os.getloadavg()[0]:.1f}")
    if os.environ.get("XAPIAN_FLUSH_THRESHOLD"):
        print(f"XAPIAN_FLUSH_THRESHOLD={os.environ['XAPIAN_FLUSH_THRESHOLD']} (notmuch new)")
    with _work_dir(args.work) as work:
        nm = not args.no_notmuch
        nm_env = build(work, args.messages, args.seed, notmuch=nm,
                       sharded=args.sharded or not nm, drop_maildir=args.drop_maildir)
        if args.build_only:
            print(f"built in {work}")
            return
        home = work / "home"
        env = {**os.environ, "MAILOPS_HOME": str(home), "NO_COLOR": "1", "COLUMNS": "120"}
        env.pop("PYTHONDONTWRITEBYTECODE", None)  # measure as installed (byte code cached)
        env["PYTHONPYCACHEPREFIX"] = str(work / "pycache")

        print(f"load average {os.getloadavg()[0]:.1f}; first page of 50, newest first;"
              f" {args.runs} runs each, interleaved")
        print(f"{'query':15s} {'hits m/nm':>13s} | {'engine p50':>10s} {'p95':>6s} |"
              f" {'notmuch p50':>11s} {'p95':>6s} | {'ratio p50':>9s} |"
              f" {'mailops CLI':>11s} {'ratio':>6s}")
        met = True
        Store(home / "mailops.db").close()  # writable once: a store built earlier migrates
        with Store(home / "mailops.db", readonly=True) as store:
            for label, mq, nq in QUERIES:
                ours: list[float] = []
                theirs: list[float] = []
                notmuch = [NOTMUCH, "search", "--limit=50", nq]
                store.search(mq, limit=50)  # warm the page cache once, both sides
                if nm:
                    subprocess.run(notmuch, env=nm_env, capture_output=True, check=True)
                for _ in range(args.runs):
                    t = time.perf_counter()
                    rows = store.search(mq, limit=50)
                    ours.append(time.perf_counter() - t)
                    if nm:
                        t = time.perf_counter()
                        subprocess.run(notmuch, env=nm_env, capture_output=True, check=True)
                        theirs.append(time.perf_counter() - t)
                cli: list[float] = []
                for _ in range(args.cli_runs + 1):  # the first writes the byte-code cache
                    t = time.perf_counter()
                    subprocess.run([mailops, "search", "--limit", "50", "--", mq], env=env,
                                   capture_output=True, check=True)
                    cli.append(time.perf_counter() - t)
                cli = cli[1:]
                nm_count = subprocess.run([NOTMUCH, "count", nq], env=nm_env,
                                          capture_output=True, text=True,
                                          check=True).stdout.strip() if nm else "-"
                compiled = compile_text(mq)
                assert compiled is not None
                ours_count = store.db.execute(
                    f"SELECT count(*) FROM messages m WHERE {compiled.where}",
                    compiled.params).fetchone()[0]
                assert len(rows) <= 50
                p50, p95 = pct(ours, 50), pct(ours, 95)
                c50 = 1000 * statistics.median(cli)
                met = met and p50 < 20 and p95 < 100
                line = f"{label:15s} {ours_count:>7d}/{nm_count:>7s} | {p50:7.1f} ms {p95:6.1f} |"
                if nm:
                    n50, n95 = pct(theirs, 50), pct(theirs, 95)
                    met = met and p50 <= n50
                    line += (f" {n50:8.1f} ms {n95:6.1f} | {n50 / p50:8.1f}x |"
                             f" {c50:8.0f} ms {n50 / c50:5.2f}x")
                else:
                    line += f" {'-':>11s} {'-':>6s} | {'-':>9s} | {c50:8.0f} ms {'-':>6s}"
                print(line, flush=True)
        print("ratio = notmuch time / mailops time (above 1: mailops faster)")
        goal = "p50 < 20 ms, p95 < 100 ms" + (", p50 no slower than notmuch" if nm else "")
        print(f"targets (engine {goal}): "
              + ("met for every query" if met else "NOT met for at least one query"))


@contextmanager
def _work_dir(path: Path | None) -> Iterator[Path]:
    if path is None:
        with temp_dir("mailops-bench-search-") as work:
            yield work
        return
    path.mkdir(parents=True, exist_ok=True)
    yield path


def build(work: Path, n: int, seed: int, *, notmuch: bool, sharded: bool,
          drop_maildir: bool) -> dict[str, str]:
    """The maildir, notmuch's database and the store in `work`, skipping each part a
    marker file says is finished; returns notmuch's environment."""
    maildir, home = work / "Maildir", work / "home"
    nm_env: dict[str, str] = {}
    if notmuch:
        nm_done = work / "notmuch-db" / ".built"
        if not nm_done.exists():
            if not (work / ".maildir-written").exists():
                shutil.rmtree(maildir, ignore_errors=True)
                start = time.monotonic()
                total = (write_maildir_sharded(maildir, n, seed) if sharded
                         else write_maildir(maildir, n, seed))
                (work / ".maildir-written").touch()
                print(f"corpus: {n} messages (seed {seed}{', sharded' if sharded else ''}),"
                      f" {total / 1e9:.2f} GB, written in {time.monotonic() - start:.1f} s",
                      flush=True)
            # A database a stopped run left is finished, not rebuilt: `notmuch new`
            # only adds what it has not indexed yet.
            nm_env = notmuch_index(work, maildir)
            nm_done.touch()
        else:
            nm_env = notmuch_env(work, maildir)
        if drop_maildir and maildir.exists():
            shutil.rmtree(maildir)
            print("maildir deleted (notmuch search reads only its database)", flush=True)
    if not (home / ".filled").exists():
        if not sharded:  # only a sharded fill can go on where it stopped
            shutil.rmtree(home, ignore_errors=True)
        home.mkdir(parents=True, exist_ok=True)
        start = time.monotonic()
        added = fill_store(home / "mailops.db", n, seed, sharded=sharded)
        took = time.monotonic() - start
        (home / ".filled").touch()
        size = sum(f.stat().st_size for f in home.iterdir())
        print(f"mailops store filled (add_prepared): {added} messages in {took:.1f} s"
              f" ({added / took:.0f} msg/s), {size / 1e9:.2f} GB", flush=True)
    return nm_env


def measure_store(path: Path, runs: int, plans: bool) -> None:
    """First-page p50/p95 (Store.search, limit 50) for every query on an existing store."""
    print(f"machine: {machine()}; load average {os.getloadavg()[0]:.1f}")
    cases = [(label, mq) for label, mq, _ in QUERIES] + STORE_QUERIES
    with Store(path, readonly=True) as store:
        print(f"store: {path} ({store.count()} messages); first page of 50, newest first,"
              f" {runs} runs each")
        print(f"{'query':16s} {'query text':32s} {'p50':>8s} {'p95':>8s}")
        for label, mq in cases:
            store.search(mq, limit=50)  # warm the page cache once
            took: list[float] = []
            for _ in range(runs):
                t = time.perf_counter()
                store.search(mq, limit=50)
                took.append(time.perf_counter() - t)
            print(f"{label:16s} {mq:32s} {pct(took, 50):5.1f} ms {pct(took, 95):5.1f} ms",
                  flush=True)
            if plans:
                with planning(store.db):  # as Store.search compiles it
                    compiled = compile_text(mq)
                assert compiled is not None
                where, params = compiled.where, compiled.params
                if getattr(compiled, "walk", None):  # a common match: walk.two_stage
                    print(f"    two stages: chunks of this walk tested against"
                          f" {'NOT ' if compiled.walk_negated else ''}{compiled.walk}")
                    where, params = compiled.rest, compiled.rest_params
                sql = (f"SELECT m.id FROM messages m WHERE {where}"
                       " ORDER BY coalesce(m.date_ts, m.received_at) DESC, m.id DESC LIMIT 50")
                for row in store.db.execute("EXPLAIN QUERY PLAN " + sql, params):
                    print(f"    {row[3]}")
        measure_listing(store, runs)


# Terms from common to rare on bench/tui.py's store (10%, 5.5%, 0.8%, 0.6%, 0.3% of 1M;
# below 0.7% planning leaves them to the one query: "not walked").
WALK_CASES = ["from:alice", "subject:budget", "from:alice budget", "budget review",
              "from:alice10", "NOT budget"]


def compare_walk(path: Path, runs: int, queries: list[str]) -> None:
    """Store.search p50 for each query: two stages as planned vs the one-query plan."""
    from mailops.store import search

    planned = search.compile_text

    def one_query(query: str | None, now: object = None) -> object:
        compiled = planned(query, now)  # type: ignore[arg-type]
        if compiled is not None:
            compiled.walk = None
        return compiled

    print(f"machine: {machine()}; load average {os.getloadavg()[0]:.1f}")
    print(f"{'query':28s} {'matches':>8s} {'two stages p50':>15s} {'one query p50':>14s}")
    with Store(path, readonly=True) as store:
        for q in queries:
            took: dict[str, list[float]] = {"two": [], "one": []}
            pages: dict[str, list[int]] = {}
            for _ in range(runs + 1):  # the first warms the page cache
                for mode in ("two", "one"):
                    search.compile_text = planned if mode == "two" else one_query  # type: ignore[assignment]
                    t = time.perf_counter()
                    pages[mode] = [r["id"] for r in store.search(q, limit=50)]
                    took[mode].append(time.perf_counter() - t)
            search.compile_text = planned
            assert pages["two"] == pages["one"], q
            with planning(store.db):
                compiled = compile_text(q)
            assert compiled is not None
            match = compiled.rank_match or getattr(compiled, "walk", None)
            n = store.db.execute("SELECT count(*) FROM texts_fts WHERE texts_fts MATCH ?",
                                 (match,)).fetchone()[0] if match else -1
            walk = "" if getattr(compiled, "walk", None) else " (not walked)"
            print(f"{q:28s} {n:8d} {pct(took['two'][1:], 50):12.1f} ms"
                  f" {pct(took['one'][1:], 50):11.1f} ms{walk}", flush=True)


def measure_listing(store: Store, runs: int) -> None:
    """The TUI's first page (listing.page, 100 rows, scope `-folder:Trash`) and its count."""
    print(f"{'listing (TUI)':16s} {'query text':32s} {'sort':>8s} {'p50':>8s} {'p95':>8s}")
    cases: list[tuple[str, str, bool]] = [(q, s, False) for q, s in LISTING]
    cases += [("folder:INBOX", "date", True), ("folder:inbox from:alice", "date", True)]
    for mq, sort, counting in cases:
        node = And((parse("-folder:Trash"), parse(mq)))
        took: list[float] = []
        for _ in range(runs + 1):  # the first warms the page cache
            t = time.perf_counter()
            if counting:
                listing.count(store, node, sort=sort)
            else:
                listing.page(store, node, sort=sort, limit=100)
            took.append(time.perf_counter() - t)
        what = "count" if counting else "page"
        print(f"{what:16s} {mq:32s} {sort:>8s} {pct(took[1:], 50):5.1f} ms"
              f" {pct(took[1:], 95):5.1f} ms", flush=True)


def notmuch_env(work: Path, maildir: Path) -> dict[str, str]:
    """The environment (and config file) for notmuch on `work`'s database."""
    dbdir = work / "notmuch-db"
    config = work / "notmuch-config"
    config.write_text(
        f"[database]\npath={dbdir}\nmail_root={maildir}\n"
        "[user]\nname=Bench\nprimary_email=bench@example.test\n"
        "[new]\ntags=unread;inbox;\nignore=\n[search]\nexclude_tags=\n"
        "[maildir]\nsynchronize_flags=true\n")
    return {**os.environ, "NOTMUCH_CONFIG": str(config), "HOME": str(work)}


def notmuch_index(work: Path, maildir: Path) -> dict[str, str]:
    """Index the maildir with `notmuch new` (a fresh database, or the rest of one a
    stopped run left); returns its environment."""
    (work / "notmuch-db").mkdir(exist_ok=True)
    nm_env = notmuch_env(work, maildir)
    start = time.monotonic()
    subprocess.run([NOTMUCH, "new", "--quiet"], env=nm_env, check=True, capture_output=True)
    print(f"notmuch database built (notmuch new) in {time.monotonic() - start:.1f} s")
    return nm_env


if __name__ == "__main__":
    main()
