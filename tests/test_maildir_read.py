"""Reading a maildir for import: in order, with the kernel reading ahead, and
messages that move or vanish while the import runs."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from mailops import importer
from mailops.importer import Source, _read_maildir


def _maildir(root: Path, n: int) -> Path:
    for sub in ("cur", "new", "tmp"):
        (root / sub).mkdir(parents=True)
    for i in range(n):
        name = f"{1700000000 + i}.M{i:06d}P1Q{i}.test"
        (root / "new" / name).write_bytes(f"Subject: {i}\r\n\r\nbody {i}\r\n".encode())
    return root


def test_messages_come_in_order_and_moves_and_deletes_are_handled(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(importer, "_READ_AHEAD", 4)  # the read-ahead wraps around often
    box = _maildir(tmp_path / "box", 40)
    items = _read_maildir(Source("maildir", box, 0))
    first = next(items)
    assert first.raw is not None and first.raw.startswith(b"Subject: 0\r\n")
    # An MUA files message 10 into cur/ (new name) and deletes message 20 meanwhile.
    name10 = next((box / "new").glob("1700000010.*"))
    name10.rename(box / "cur" / f"{name10.name}:2,S")
    next((box / "new").glob("1700000020.*")).unlink()
    rest = list(items)
    assert len(rest) == 39
    subjects = [i.raw.split(b"\r\n")[0] for i in rest if i.raw is not None]
    assert subjects == [f"Subject: {i}".encode() for i in range(1, 40) if i != 20]
    vanished = [i for i in rest if i.raw is None]
    assert len(vanished) == 1 and vanished[0].error == "message vanished while importing"


def test_stopping_early_stops_the_read_ahead(tmp_path: Path) -> None:
    box = _maildir(tmp_path / "box", 300)
    before = threading.active_count()
    items = _read_maildir(Source("maildir", box, 0))
    assert next(items).raw is not None
    items.close()  # the import stops (an error, Ctrl-C): the thread must not linger
    deadline = time.monotonic() + 10
    while threading.active_count() > before and time.monotonic() < deadline:
        time.sleep(0.01)
    assert threading.active_count() == before
