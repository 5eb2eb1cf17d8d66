"""Query latency on a large store: mailops (engine and CLI) vs `notmuch search`, same run.

Builds one corpus (bench/corpus.py, seeded) twice:

- as a maildir indexed by `notmuch new` (fresh database; NOTMUCH_CONFIG points
  at a config written here);
- as a mailops store filled through `Store.add_parsed` with the fields the
  generator knows (subject, addresses, date, body text, attachment names,
  threading headers), i.e. the same content without running the MIME parser,
  which would take as long as notmuch's indexing (see bench/import.py).

Then, for each typical query, the first page of 50 newest-first:

- engine: `Store.search(query, limit=50)` in this process (a fresh read-only
  Store), p50/p95 over --runs runs;
- `notmuch search --limit=50 QUERY` (a process each time: notmuch has no
  in-process API here), p50/p95 over the same number of runs, interleaved;
- `mailops search QUERY` end to end (a whole CLI process), p50 of --cli-runs.

    uv run python bench/search.py [--messages 50000] [--runs 30] [--cli-runs 3]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

from _harness import machine, temp_dir
from corpus import messages, write_maildir

from mailops.mime import Parsed
from mailops.store import Incoming, Store
from mailops.store.search import compile_text

NOTMUCH = shutil.which("notmuch") or "/usr/bin/notmuch"

# (label, mailops query, equivalent notmuch query)
QUERIES = [
    ("field term", "from:alice", "from:alice"),
    ("two words", "budget review", "budget and review"),
    ("phrase", '"café menu"', '"café menu"'),
    ("date range", "date:2025-03-01..2025-03-31", "date:2025-03-01..2025-03-31"),
    ("negation", "invoice -from:alice", "invoice and not from:alice"),
    ("has:attachment", "has:attachment", "tag:attachment"),
]


def fill_store(path: Path, n: int, seed: int) -> None:
    """The corpus into a mailops store, through add_parsed (no MIME parsing)."""
    with Store(path) as store:
        batch: list[tuple[Incoming, Parsed]] = []
        for m in messages(n, seed):
            parsed = Parsed(
                message_id=m.message_id, subject=m.subject, from_=m.from_, to=m.to, cc=m.cc,
                date=time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime(m.date_ts)),
                date_ts=m.date_ts, text=m.text, has_html=m.has_html,
                attachments=m.attachments, in_reply_to=m.in_reply_to,
                references=m.references)
            batch.append((Incoming(raw=m.raw, source="import", received_at=m.date_ts),
                          parsed))
            if len(batch) >= 2000:
                store.add_parsed(batch)
                batch = []
        if batch:
            store.add_parsed(batch)


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
    args = parser.parse_args()
    mailops = shutil.which("mailops") or str(Path(sys.executable).with_name("mailops"))
    print(f"machine: {machine()}; load average {os.getloadavg()[0]:.1f}")
    with temp_dir("mailops-bench-search-") as work:
        maildir, home, dbdir = work / "Maildir", work / "home", work / "notmuch-db"
        start = time.monotonic()
        write_maildir(maildir, args.messages, args.seed)
        print(f"corpus: {args.messages} messages (seed {args.seed}) written in"
              f" {time.monotonic() - start:.1f} s")
        start = time.monotonic()
        fill_store(home / "mailops.db", args.messages, args.seed)
        print(f"mailops store filled (add_parsed) in {time.monotonic() - start:.1f} s")
        dbdir.mkdir()
        config = work / "notmuch-config"
        config.write_text(
            f"[database]\npath={dbdir}\nmail_root={maildir}\n"
            "[user]\nname=Bench\nprimary_email=bench@example.test\n"
            "[new]\ntags=unread;inbox;\nignore=\n[search]\nexclude_tags=\n"
            "[maildir]\nsynchronize_flags=true\n")
        nm_env = {**os.environ, "NOTMUCH_CONFIG": str(config), "HOME": str(work)}
        start = time.monotonic()
        subprocess.run([NOTMUCH, "new", "--quiet"], env=nm_env, check=True,
                       capture_output=True)
        print(f"notmuch database built (notmuch new) in {time.monotonic() - start:.1f} s")
        env = {**os.environ, "MAILOPS_HOME": str(home), "NO_COLOR": "1", "COLUMNS": "120"}
        env.pop("PYTHONDONTWRITEBYTECODE", None)  # measure as installed (byte code cached)
        env["PYTHONPYCACHEPREFIX"] = str(work / "pycache")

        print(f"load average {os.getloadavg()[0]:.1f}; first page of 50, newest first;"
              f" {args.runs} runs each, interleaved")
        print(f"{'query':15s} {'hits m/nm':>13s} | {'engine p50':>10s} {'p95':>6s} |"
              f" {'notmuch p50':>11s} {'p95':>6s} | {'ratio p50':>9s} |"
              f" {'mailops CLI':>11s} {'ratio':>6s}")
        met = True
        with Store(home / "mailops.db", readonly=True) as store:
            for label, mq, nq in QUERIES:
                ours: list[float] = []
                theirs: list[float] = []
                store.search(mq, limit=50)  # warm the page cache once, both sides
                subprocess.run([NOTMUCH, "search", "--limit=50", nq], env=nm_env,
                               capture_output=True, check=True)
                for _ in range(args.runs):
                    t = time.perf_counter()
                    rows = store.search(mq, limit=50)
                    ours.append(time.perf_counter() - t)
                    t = time.perf_counter()
                    subprocess.run([NOTMUCH, "search", "--limit=50", nq], env=nm_env,
                                   capture_output=True, check=True)
                    theirs.append(time.perf_counter() - t)
                cli: list[float] = []
                for _ in range(args.cli_runs + 1):  # the first writes the byte-code cache
                    t = time.perf_counter()
                    subprocess.run([mailops, "search", "--limit", "50", "--", mq], env=env,
                                   capture_output=True, check=True)
                    cli.append(time.perf_counter() - t)
                cli = cli[1:]
                nm_count = subprocess.run([NOTMUCH, "count", nq], env=nm_env,
                                          capture_output=True, text=True, check=True)
                compiled = compile_text(mq)
                assert compiled is not None
                ours_count = store.db.execute(
                    f"SELECT count(*) FROM messages m WHERE {compiled.where}",
                    compiled.params).fetchone()[0]
                assert len(rows) <= 50
                p50, p95 = pct(ours, 50), pct(ours, 95)
                n50, n95 = pct(theirs, 50), pct(theirs, 95)
                c50 = 1000 * statistics.median(cli)
                met = met and p50 < 20 and p95 < 100 and p50 <= n50
                print(f"{label:15s} {ours_count:>6d}/{nm_count.stdout.strip():>6s} |"
                      f" {p50:7.1f} ms {p95:6.1f} | {n50:8.1f} ms {n95:6.1f} |"
                      f" {n50 / p50:8.1f}x | {c50:8.0f} ms {n50 / c50:5.2f}x")
        print("ratio = notmuch time / mailops time (above 1: mailops faster)")
        print("targets (engine p50 < 20 ms, p95 < 100 ms, p50 no slower than notmuch): "
              + ("met for every query" if met else "NOT met for at least one query"))


if __name__ == "__main__":
    main()
