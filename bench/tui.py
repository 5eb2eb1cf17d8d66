"""The TUI on a large store: first paint, page-down, search-to-results, RSS.

Builds (or reuses, with --store) a store of small synthetic messages through
`Store.add_parsed` (the fields known up front, no MIME parsing: what matters
here is the row count), then runs `mailops tui`'s app headless in a child
process (`App.run_test()`, 120x40) and measures:

- first paint: from constructing the app until the message list has drawn
  its first rows of real messages;
- page down: one `pagedown` key until the list has drawn the new screenful
  (50 presses: median, p95, max; every third or so fetches a page);
- search: Enter in the search bar until the results are drawn (the store's
  query language, typical queries), and typing as you go (the last key until
  the results are drawn: the 150 ms debounce included);
- RSS: VmRSS and VmHWM of the child after all that.

Baseline, same run: Textual's stock `DataTable` in a child process given the
newest --baseline-rows rows of the same store (fetched before the clock
starts: the fetch alone is printed separately), time to first paint and RSS.

    uv run python bench/tui.py [--messages 1000000] [--baseline-rows 100000]
        [--store PATH] [--runs 3]

--store PATH reuses (or, when missing, builds and keeps) that store file.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _harness import machine, rss_kib, temp_dir

from mailops.mime import Parsed
from mailops.store import Incoming, Store

START = 1730419200.0  # 2024-11-01T00:00:00Z
SPAN = 2 * 365 * 86400.0
# Subject words (each message has 2-6 of them) and a body vocabulary of pseudo-words,
# so a subject word matches a few percent of messages and a body word well under 1%.
_WORDS_TEXT = (
    "report invoice meeting password reset welcome order shipped account alert weekly"
    " digest newsletter quarterly budget review release notes project deadline server"
    " backup deploy outage incident customer contract payment receipt schedule agenda"
    " minutes draft proposal feedback ticket support upgrade migration database cluster"
    " certificate renewal domain dns mailbox quota storage network firewall policy"
    " security audit compliance training holiday travel expense approval request"
    " koala zebra quantum nebula saffron tundra marzipan obsidian juniper walrus")
WORDS = _WORDS_TEXT.split()
NAMES = ["Alice Smith", "Bob Jones", "Carol Müller", "Dave García", "Erin Dubois",
         "Frank Rossi", "Grace Nowak", "Heidi Johansson", "Ivan Novák", "Judy Peña"]
DOMAINS = ["example.test", "acme.test", "initech.test", "globex.test", "hooli.test"]
QUERIES = ["from:alice", "budget review", "invoice -from:bob", "date:2025-03-01..2025-03-31",
           "has:attachment", "tag:work is:unread"]
SIZE = (120, 40)


def synthetic(n: int, seed: int = 1) -> Iterator[tuple[Incoming, Parsed]]:
    """n small messages (~600 bytes), dates increasing over two years, 30% replies,
    3% with an attachment name; deterministic for a given n and seed."""
    rng = random.Random(seed)
    people = [(name, f"{name.split()[0].lower()}{i}@{DOMAINS[i % len(DOMAINS)]}")
              for i in range(300) for name in [NAMES[i % len(NAMES)]]]
    syllables = ["ka", "lo", "mi", "ne", "ru", "ta", "shi", "vo", "ze", "pa", "qui", "dor",
                 "len", "bar", "fi", "gu", "ho", "jo", "ster", "wen", "xi", "ya", "mon", "tri"]
    vocab = ["".join(rng.choices(syllables, k=rng.randint(2, 4))) for _ in range(20_000)]
    open_threads: list[tuple[str, list[str], str]] = []
    for i in range(n):
        ts = START + SPAN * i / n
        name, addr = rng.choice(people)
        to = rng.choice(people)[1]
        subject = " ".join(rng.choices(WORDS, k=rng.randint(2, 6))).capitalize() + f" #{i}"
        msgid = f"{i}.{seed}@{addr.split('@')[1]}"
        refs: list[str] = []
        reply: str | None = None
        if open_threads and rng.random() < 0.3:
            parent, prefs, base = open_threads[rng.randrange(len(open_threads))]
            reply, refs, subject = parent, [*prefs, parent][-5:], "Re: " + base
        else:
            open_threads.append((msgid, [], subject))
            if len(open_threads) > 500:
                del open_threads[:100]
        text = " ".join(rng.choices(vocab, k=25) + rng.choices(WORDS, k=2))
        names = [f"{rng.choice(WORDS)}-{i}.pdf"] if rng.random() < 0.03 else []
        date = time.strftime("%a, %d %b %Y %H:%M:%S +0000", time.gmtime(ts))
        head = (f"From: {name} <{addr}>\r\nTo: <{to}>\r\nSubject: {subject}\r\n"
                f"Date: {date}\r\nMessage-ID: <{msgid}>\r\n")
        if reply:
            head += f"In-Reply-To: <{reply}>\r\nReferences: " + " ".join(
                f"<{r}>" for r in refs) + "\r\n"
        raw = (head + "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
               + text + "\r\n").encode()
        yield (Incoming(raw=raw, source="import", received_at=ts),
               Parsed(message_id=msgid, subject=subject, from_=f"{name} <{addr}>", to=[to],
                      date=time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime(ts)),
                      date_ts=ts, text=text, attachments=names, in_reply_to=reply,
                      references=refs))


def build(path: Path, n: int, seed: int = 1) -> None:
    """Fill a store with `synthetic(n)`; then mark 70% read and 2% flagged."""
    from mailops.store.tags import change_tags, mark

    started = time.monotonic()
    with Store(path, synchronous="OFF") as store:
        batch: list[tuple[Incoming, Parsed]] = []
        for item in synthetic(n, seed):
            batch.append(item)
            if len(batch) >= 5000:
                store.add_parsed(batch)
                batch = []
                done = store.max_id()
                if done % 100_000 == 0:
                    print(f"  {done} messages, {time.monotonic() - started:.0f} s", flush=True)
        if batch:
            store.add_parsed(batch)
        mark(store, (i for i in range(1, n + 1) if i % 10 < 7), "read")
        mark(store, range(1, n + 1, 50), "flagged")
        change_tags(store, range(1, n + 1, 20), ["work"])
    print(f"store built: {n} messages in {time.monotonic() - started:.0f} s", flush=True)


# -- the child processes: one measurement each, JSON on stdout ----------------------


async def _until(check: Any, timeout: float = 60.0) -> None:
    deadline = time.perf_counter() + timeout
    while not check():
        if time.perf_counter() > deadline:
            raise RuntimeError("timed out waiting for the screen")
        await asyncio.sleep(0.001)


def pct(values: list[float], p: float) -> float:
    """The p-th percentile (nearest rank), in ms."""
    ordered = sorted(values)
    return 1000 * ordered[min(len(ordered) - 1, max(0, round(p / 100 * len(ordered)) - 1))]


async def measure_ours(path: Path) -> dict[str, Any]:
    """First paint, page down and search of the mailops TUI on the store at `path`."""
    from mailops.tui.app import MailopsApp
    from textual import events

    out: dict[str, Any] = {}
    started, cpu = time.perf_counter(), time.process_time()
    app = MailopsApp(Store(path), poll_interval=3600)
    async with app.run_test(size=SIZE) as pilot:
        await _until(lambda: len(app.screen_stack) > 1 and app.mailbox.messages.rendered_rows)
        out["first_paint"] = time.perf_counter() - started
        # CPU time (all threads) is what the load on a shared machine inflates least.
        out["first_paint_cpu"] = time.process_time() - cpu
        lst = app.mailbox.messages
        await _until(lambda: lst.source is not None and lst.source.total is not None)
        out["counted"] = time.perf_counter() - started
        out["total"] = lst.total
        await app.workers.wait_for_complete()
        height = lst.scrollable_content_region.height
        downs: list[float] = []
        for _ in range(50):
            before = lst.rendered_rows
            await asyncio.sleep(0.02)  # a person's pace: each key on a quiet app
            t = time.perf_counter()
            # The key as the terminal driver delivers it (Pilot.press would also wait
            # for the whole process to go idle, preview worker included).
            app.post_message(events.Key("pagedown", None))
            await _until(lambda b=before: lst.rendered_rows >= b + height)
            downs.append(time.perf_counter() - t)
        out["pagedown_p50"], out["pagedown_p95"] = pct(downs, 50), pct(downs, 95)
        out["pagedown_max"] = 1000 * max(downs)
        out["page_fetches"] = lst.source.fetches if lst.source else 0
        searches: dict[str, list[float]] = {}
        screen = app.mailbox
        bar = screen.query_one("#query")
        for query in QUERIES:
            for typed in (False, True):
                await pilot.press("slash")
                bar.value = ""  # type: ignore[attr-defined]
                await pilot.pause()
                old = lst.source
                if typed:  # key by key; the search runs when typing pauses
                    await pilot.press(*query[:-1])
                    await asyncio.sleep(0.3)  # earlier prefixes' searches are done
                    t = time.perf_counter()
                    app.post_message(events.Key(query[-1], query[-1]))
                else:
                    bar.value = query  # type: ignore[attr-defined]
                    t = time.perf_counter()
                    app.post_message(events.Key("enter", None))
                # On screen: the list has drawn the listing of this query.
                await _until(lambda o=old, q=query: screen.search_text == q
                             and screen.shown == screen.generation and lst.source is not o
                             and lst.painted is lst.source)
                searches.setdefault(f"{query}|{'typed' if typed else 'enter'}", []).append(
                    time.perf_counter() - t)
                await app.workers.wait_for_complete()
                await pilot.press("escape", "escape")
                await app.workers.wait_for_complete()
        out["search"] = {k: 1000 * statistics.median(v) for k, v in searches.items()}
    out["rss_kib"], out["hwm_kib"] = rss_kib(os.getpid())
    return out


async def measure_datatable(path: Path, rows: int) -> dict[str, Any]:
    """Textual's DataTable given the newest `rows` rows of the store: first paint."""
    from mailops.tui.format import date_cell, marks_cell, sender_cell, size_cell, subject_cell
    from textual.app import App, ComposeResult
    from textual.widgets import DataTable

    t = time.perf_counter()
    data: list[tuple[str, ...]] = []
    with Store(path, readonly=True) as store:
        after = None
        while len(data) < rows:
            page = store.search(None, limit=min(1000, rows - len(data)), after=after)
            if not page:
                break
            data += [(marks_cell(r), date_cell(r), sender_cell(r), subject_cell(r),
                      size_cell(int(r["size"]))) for r in page]
            after = page[-1]["cursor"]
    fetched = time.perf_counter() - t

    class Table(App[None]):
        def compose(self) -> ComposeResult:
            yield DataTable(cursor_type="row")

        def on_mount(self) -> None:
            table = self.query_one(DataTable)
            table.add_columns("", "date", "from", "subject", "size")
            table.add_rows(data)
            table.focus()

    started, cpu = time.perf_counter(), time.process_time()
    app = Table()
    async with app.run_test(size=SIZE) as pilot:
        table = app.query_one(DataTable)
        await _until(lambda: table.row_count == len(data) and bool(table._row_render_cache))
        first = time.perf_counter() - started
        first_cpu = time.process_time() - cpu
        await pilot.pause()
    rss, hwm = rss_kib(os.getpid())
    return {"rows": len(data), "fetch": fetched, "first_paint": first,
            "first_paint_cpu": first_cpu, "rss_kib": rss, "hwm_kib": hwm}


async def measure_empty() -> dict[str, Any]:
    """The floor: a Textual app showing one line of text, to its first paint."""
    from textual.app import App, ComposeResult
    from textual.widgets import Static

    class Hello(Static):
        painted = False

        def render(self) -> str:
            self.painted = True
            return "hello"

    class Empty(App[None]):
        def compose(self) -> ComposeResult:
            yield Hello()

    started = time.perf_counter()
    app = Empty()
    async with app.run_test(size=SIZE):
        hello = app.query_one(Hello)
        await _until(lambda: hello.painted)
        first = time.perf_counter() - started
    return {"first_paint": first}


# -- the parent: build, run the children interleaved, report ------------------------


def child(kind: str, path: Path, rows: int) -> dict[str, Any]:
    """Run one measurement in a fresh process (its own RSS, a cold Textual)."""
    out = subprocess.run([sys.executable, __file__, "--child", kind, "--store", str(path),
                          "--baseline-rows", str(rows)], capture_output=True, text=True,
                         check=True, timeout=1800)
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def report(path: Path, args: argparse.Namespace) -> None:
    """Interleaved runs of ours and the baseline; medians."""
    import_time = subprocess.run(
        [sys.executable, "-c", "import time; t = time.perf_counter(); import mailops.tui.app;"
         " print(time.perf_counter() - t)"], capture_output=True, text=True, check=True)
    ours: list[dict[str, Any]] = []
    base: list[dict[str, Any]] = []
    empty: list[dict[str, Any]] = []
    for run in range(args.runs):
        print(f"run {run + 1}: load average {os.getloadavg()[0]:.1f}", flush=True)
        ours.append(child("ours", path, args.baseline_rows))
        base.append(child("datatable", path, args.baseline_rows))
        empty.append(child("empty", path, args.baseline_rows))
        print(f"  first paint: mailops {1000 * ours[-1]['first_paint']:.0f} ms;"
              f" DataTable {1000 * base[-1]['first_paint']:.0f} ms;"
              f" one-line app {1000 * empty[-1]['first_paint']:.0f} ms", flush=True)

    def med(rows: list[dict[str, Any]], key: str) -> float:
        return statistics.median(float(r[key]) for r in rows)

    first, dt_first = 1000 * med(ours, "first_paint"), 1000 * med(base, "first_paint")
    rss = med(ours, "rss_kib") / 1024
    print(f"\nimport of mailops.tui.app (Textual included): "
          f"{1000 * float(import_time.stdout):.0f} ms (not in the first paint below)")
    print(f"mailops tui on {ours[0]['total']:,} messages, {args.runs} runs, medians:")
    cpu = 1000 * med(ours, "first_paint_cpu")
    print(f"  first paint            {first:7.0f} ms   (CPU {cpu:.0f} ms; count of all rows"
          f" known: {1000 * med(ours, 'counted'):.0f} ms)")
    print(f"  page down p50/p95/max  {med(ours, 'pagedown_p50'):7.1f} /"
          f" {med(ours, 'pagedown_p95'):.1f} / {med(ours, 'pagedown_max'):.1f} ms"
          f"  ({ours[0]['page_fetches']} pages fetched in 50 presses)")
    for key in ours[0]["search"]:
        query, how = key.split("|")
        value = statistics.median(r["search"][key] for r in ours)
        print(f"  search {how:5s} {query:30s} {value:7.0f} ms")
    print(f"  RSS {rss:.0f} MB (peak {med(ours, 'hwm_kib') / 1024:.0f} MB)")
    print(f"Textual DataTable, newest {base[0]['rows']:,} rows of the same store:")
    print(f"  first paint            {dt_first:7.0f} ms   (CPU"
          f" {1000 * med(base, 'first_paint_cpu'):.0f} ms; fetching the rows before:"
          f" {1000 * med(base, 'fetch'):.0f} ms)")
    print(f"  RSS {med(base, 'rss_kib') / 1024:.0f} MB (peak {med(base, 'hwm_kib') / 1024:.0f} MB)")
    print(f"a Textual app showing one line (the floor): first paint"
          f" {1000 * med(empty, 'first_paint'):.0f} ms")
    print(f"ratio first paint DataTable/mailops: {dt_first / first:.1f}x"
          f" (mailops on {ours[0]['total']:,} rows, DataTable on {base[0]['rows']:,})")
    searches = [statistics.median(r["search"][k] for r in ours)
                for k in ours[0]["search"] if k.endswith("|enter")]
    met = (first < 500 and med(ours, "pagedown_p95") < 50 and max(searches) < 200
           and rss < 250)
    print("targets (first paint < 500 ms, page down < 50 ms, search < 200 ms, RSS < 250 MB): "
          + ("met" if met else "NOT all met"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=1_000_000)
    parser.add_argument("--baseline-rows", type=int, default=100_000)
    parser.add_argument("--store", type=Path)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--child", choices=["ours", "datatable", "empty"])
    args = parser.parse_args()
    if args.child:
        assert args.store is not None
        work = {"ours": lambda: measure_ours(args.store),
                "datatable": lambda: measure_datatable(args.store, args.baseline_rows),
                "empty": measure_empty}[args.child]
        result = asyncio.run(work())
        print(json.dumps(result))
        return
    print(f"machine: {machine()}")
    if args.store is not None:
        if not args.store.exists():
            build(args.store, args.messages)
        report(args.store, args)
        return
    with temp_dir("mailops-bench-tui-") as work:
        build(work / "mailops.db", args.messages)
        report(work / "mailops.db", args)


if __name__ == "__main__":
    main()
