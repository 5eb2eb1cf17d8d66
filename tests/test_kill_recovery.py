"""SIGKILL in the middle of `mailops import`: the store stays consistent and the
next run adds exactly what is missing. (Retention's kill test is in
tests/test_retention.py.)"""

from __future__ import annotations

import hashlib
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import zstandard
from conftest import Cli
from serve_support import store_path

TOTAL = 4000


def corpus(root: Path, total: int) -> dict[str, bytes]:
    """A maildir of `total` distinct messages (threads, plus-address tags, ~1.5 KB
    each); returns sha256 -> bytes."""
    for sub in ("cur", "new", "tmp"):
        (root / sub).mkdir(parents=True)
    out: dict[str, bytes] = {}
    for i in range(total):
        refs = f"In-Reply-To: <m{i - 1}@example.test>\n" if i % 3 else ""
        rcpt = "bob+work@example.test" if i % 5 == 0 else "bob@example.test"
        raw = (f"From: s{i % 40}@example.test\nTo: {rcpt}\nSubject: note {i} caf\u00e9\n"
               f"Message-ID: <m{i}@example.test>\n{refs}"
               f"Date: Mon, 02 Jan 2023 10:{i // 60 % 60:02d}:{i % 60:02d} +0000\n\n"
               + f"line {i} of words for the index\n" * 45).encode()
        (root / "cur" / f"{1700000000 + i}.M{i}P1Q1.test:2,S").write_bytes(raw)
        out[hashlib.sha256(raw).hexdigest()] = raw
    return out


def count(path: Path) -> int:
    if not path.exists():
        return 0
    try:
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5) as db:
            return int(db.execute("SELECT count(*) FROM messages").fetchone()[0])
    except sqlite3.OperationalError:  # not created yet (no table), or mid-migration
        return 0


def check_consistent(path: Path, originals: dict[str, bytes]) -> int:
    """Integrity, a complete index for every stored message, no duplicates, exact
    bytes; returns how many are stored."""
    unzip = zstandard.ZstdDecompressor()
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        db.execute("INSERT INTO texts_fts(texts_fts) VALUES ('integrity-check')")
        n = int(db.execute("SELECT count(*) FROM messages").fetchone()[0])
        for table in ("bodies", "texts"):  # one row each per message, none left over
            assert db.execute(f"SELECT count(*) FROM {table} x JOIN messages m"
                              " ON m.id = x.id").fetchone()[0] == n
            assert db.execute(f"SELECT count(*) FROM {table}").fetchone()[0] == n
        assert db.execute("SELECT count(*) FROM messages WHERE indexed = 0"
                          " OR thread_id IS NULL").fetchone()[0] == 0
        assert db.execute("SELECT count(*) FROM tags WHERE msg_id NOT IN"
                          " (SELECT id FROM messages)").fetchone()[0] == 0
        assert db.execute("SELECT count(*) FROM (SELECT sha256 FROM messages GROUP BY sha256"
                          " HAVING count(*) > 1)").fetchone()[0] == 0
        tagged = db.execute("SELECT count(*) FROM tags WHERE tag = 'work'").fetchone()[0]
        assert tagged == db.execute("SELECT count(*) FROM messages"
                                    " WHERE to_addrs LIKE '%bob+work@%'").fetchone()[0]
        for digest, blob in db.execute(
                "SELECT m.sha256, b.raw FROM messages m JOIN bodies b ON b.id = m.id"):
            assert unzip.decompress(blob) == originals[digest]
    return n


def _stat(pid: int | str) -> list[str] | None:
    """State and parent of a live (not zombie) process, or None."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return None if fields[0] in ("Z", "X") else fields


def children(pid: int) -> list[int]:
    """Live processes whose parent is `pid` (the import's worker processes)."""
    return [int(e) for e in os.listdir("/proc")
            if e.isdigit() and (f := _stat(e)) is not None and int(f[1]) == pid]


def test_sigkill_during_import_then_rerun_adds_only_what_is_missing(
        cli: Cli, home: Path, tmp_path: Path) -> None:
    originals = corpus(tmp_path / "Maildir", TOTAL)
    path = store_path(home)
    proc = subprocess.Popen([sys.executable, "-m", "mailops.commands", "import",
                             str(tmp_path / "Maildir"), "--json"],
                            env=cli.env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    while count(path) == 0:  # the first batch is committed: the import is under way
        assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
        assert time.monotonic() < deadline
        time.sleep(0.01)
    workers = children(proc.pid)
    proc.send_signal(signal.SIGKILL)
    assert proc.wait(timeout=30) == -signal.SIGKILL
    # The worker processes notice their parent is gone and exit on their own.
    deadline = time.monotonic() + 30
    while any(_stat(w) is not None for w in workers):
        assert time.monotonic() < deadline, "import worker processes outlived the import"
        time.sleep(0.05)

    mid = check_consistent(path, originals)
    assert 0 < mid < TOTAL

    summary = cli.ok("import", str(tmp_path / "Maildir"), "--json", timeout=300).json()
    assert (summary["imported"], summary["duplicates"], summary["failed"]) == (
        TOTAL - mid, mid, 0)
    assert check_consistent(path, originals) == TOTAL
    again = cli.ok("import", str(tmp_path / "Maildir"), "--json", timeout=300).json()
    assert (again["imported"], again["duplicates"]) == (0, TOTAL)
