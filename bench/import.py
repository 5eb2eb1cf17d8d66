"""Bulk import: `mailops import MAILDIR` vs `notmuch new` on the same maildir, same run.

Generates the synthetic corpus (bench/corpus.py, seeded) as a maildir in a
temporary directory, then times, as whole processes (wall clock):

- `mailops import DIR --json` into a fresh MAILOPS_HOME;
- `notmuch new --quiet` with a fresh database (NOTMUCH_CONFIG points at a
  config written here: database.mail_root = the maildir, database.path = a
  separate directory, so the maildir itself is not touched).

Prints messages/s for each, the ratio, and the size of each store against the
maildir's raw size (the sum of its files' sizes). Everything is removed after.

    uv run python bench/import.py [--messages 20000] [--seed 1] [--maildir DIR]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

from _harness import machine, temp_dir
from corpus import write_maildir

NOTMUCH = shutil.which("notmuch") or "/usr/bin/notmuch"


def tree_bytes(root: Path) -> int:
    """Sum of the sizes of the regular files under root."""
    total = 0
    for dirpath, _, files in os.walk(root):
        for name in files:
            with contextlib.suppress(OSError):  # removed meanwhile
                total += os.lstat(os.path.join(dirpath, name)).st_size
    return total


def notmuch_config(path: Path, maildir: Path, dbdir: Path) -> None:
    """A notmuch config file (what `notmuch setup` would ask for, written directly)."""
    path.write_text(
        "[database]\n"
        f"path={dbdir}\n"
        f"mail_root={maildir}\n"
        "[user]\nname=Bench\nprimary_email=bench@example.test\n"
        "[new]\ntags=unread;inbox;\nignore=\n"
        "[search]\nexclude_tags=\n"
        "[maildir]\nsynchronize_flags=true\n")


def children_cpu() -> float:
    """CPU seconds (user + system) of every finished child process so far, their own
    children included (the import's worker processes are waited for by it)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_mailops(maildir: Path, home: Path) -> tuple[float, float, dict[str, object]]:
    """Wall time, CPU time and the JSON summary of one `mailops import`."""
    mailops = shutil.which("mailops") or str(Path(sys.executable).with_name("mailops"))
    env = {**os.environ, "MAILOPS_HOME": str(home)}
    cpu = children_cpu()
    start = time.perf_counter()
    out = subprocess.run([mailops, "import", str(maildir), "--json"], env=env,
                         capture_output=True, text=True)
    took = time.perf_counter() - start
    if out.returncode != 0:
        raise RuntimeError(f"mailops import failed: {out.stderr[-800:]}")
    return took, children_cpu() - cpu, json.loads(out.stdout)


def run_notmuch(maildir: Path, work: Path) -> tuple[float, float, int]:
    """Wall time, CPU time and message count of one `notmuch new` (fresh database)."""
    dbdir = work / "notmuch-db"
    dbdir.mkdir()
    config = work / "notmuch-config"
    notmuch_config(config, maildir, dbdir)
    env = {**os.environ, "NOTMUCH_CONFIG": str(config), "HOME": str(work)}
    cpu = children_cpu()
    start = time.perf_counter()
    out = subprocess.run([NOTMUCH, "new", "--quiet"], env=env, capture_output=True, text=True)
    took = time.perf_counter() - start
    cpu = children_cpu() - cpu
    if out.returncode != 0:
        raise RuntimeError(f"notmuch new failed ({out.returncode}): {out.stderr[-800:]}")
    count = subprocess.run([NOTMUCH, "count", "*"], env=env, capture_output=True, text=True,
                           check=True)
    return took, cpu, int(count.stdout.strip() or 0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--maildir", type=Path,
                        help="use this maildir instead of generating one (left untouched)")
    args = parser.parse_args()
    print(f"machine: {machine()}; load average {os.getloadavg()[0]:.1f}")
    with temp_dir("mailops-bench-import-") as work:
        if args.maildir:
            maildir = args.maildir.resolve()
        else:
            maildir = work / "Maildir"
            start = time.monotonic()
            write_maildir(maildir, args.messages, args.seed)
            print(f"corpus: {args.messages} messages (seed {args.seed}) generated in"
                  f" {time.monotonic() - start:.1f} s")
        raw = tree_bytes(maildir)
        files = sum(len(os.listdir(maildir / sub)) for sub in ("cur", "new"))
        print(f"maildir: {files} files, {raw / 1e6:.1f} MB raw")

        home = work / "mailops-home"
        took_m, cpu_m, result = run_mailops(maildir, home)
        n_m = int(result["imported"])  # type: ignore[call-overload]
        store = tree_bytes(home)
        print(f"mailops import : {n_m} messages in {took_m:6.1f} s = {n_m / took_m:7.0f} msg/s;"
              f" CPU {1000 * cpu_m / n_m:.2f} ms/msg (all processes);"
              f" store {store / 1e6:.1f} MB = {store / raw:.2f}x raw  (load"
              f" {os.getloadavg()[0]:.1f})", flush=True)

        took_n, cpu_n, n_n = run_notmuch(maildir, work)
        db = tree_bytes(work / "notmuch-db")
        print(f"notmuch new    : {n_n} messages in {took_n:6.1f} s = {n_n / took_n:7.0f} msg/s;"
              f" CPU {1000 * cpu_n / n_n:.2f} ms/msg;"
              f" database {db / 1e6:.1f} MB = {db / raw:.2f}x raw (index only; the mail stays"
              f" in the maildir: {(db + raw) / raw:.2f}x with it)  (load"
              f" {os.getloadavg()[0]:.1f})")
        ratio = (n_m / took_m) / (n_n / took_n)
        print(f"ratio mailops/notmuch (msg/s): {ratio:.2f}x;"
              f" CPU per message, notmuch/mailops: {(cpu_n / n_n) / (cpu_m / n_m):.2f}x")
        print(f"targets: >= 5x notmuch ({'met' if ratio >= 5 else 'NOT met'}),"
              f" >= 3000 msg/s ({'met' if n_m / took_m >= 3000 else 'NOT met'}),"
              f" store <= 1.5x raw ({'met' if store <= 1.5 * raw else 'NOT met'})")


if __name__ == "__main__":
    main()
