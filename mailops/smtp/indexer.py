"""Background indexing: parse stored raw messages and feed the search index.

Runs beside the receive daemon so that parsing never delays an SMTP reply. By
default the work happens in a child process (`python -m mailops.smtp.indexer
STORE`): MIME parsing is pure Python, and in a thread it would hold the GIL
against the SMTP event loop. The daemon wakes the child by writing a byte to
its stdin after each commit; closing stdin tells it to index what is pending
and exit (so it also ends when the daemon dies). Search lags ingest by about
the time one batch takes (well under a second).

`Store.index_pending` skips rows another indexer finished, so a leftover child,
a CLI reader catching up, or the in-process fallback can all run at once.
"""

from __future__ import annotations

import contextlib
import logging
import os
import select
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from mailops.store import Store
from mailops.tagging import Tagging

log = logging.getLogger("mailops.indexer")

_BATCH = 50
# During a burst the child indexes at most every _SETTLE seconds: batches of ~50
# at 1,000 msg/s instead of one or two per group commit (0.3 instead of ~0.5 ms
# of CPU a message), and search lags by at most this much more.
_SETTLE = 0.05


def index_all(store: Store, batch: int = _BATCH, settle: float = 0.0) -> int:
    """Index every pending message, in batches; returns how many were indexed.

    With `settle`, a batch that found fewer than `batch` messages (ingest goes on
    meanwhile) is followed by that long a pause, so the next one is bigger: each
    batch costs a transaction, a commit and several statements of its own.
    """
    total = 0
    while True:
        try:
            done = store.index_pending(batch)
        except Exception:  # keep serving; the next wake retries
            log.exception("indexing failed")
            return total
        total += done
        if not done:  # a batch can stop short of `batch` (big messages): ask again
            return total
        if settle and done < batch:
            time.sleep(settle)


class Indexer:
    """Indexes pending messages whenever it is woken (or every second).

    `process=True` (the default on POSIX) runs a child process; otherwise a thread.
    """

    def __init__(self, store_path: Path, batch: int = _BATCH,
                 process: bool | None = None) -> None:
        self._store_path = store_path
        self._batch = batch
        self._process = os.name == "posix" if process is None else process
        self._child: subprocess.Popen[bytes] | None = None
        self._wake_fd = -1
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="mailops-indexer", daemon=True)
        self.indexed = 0  # counted by the thread variant only

    def start(self) -> None:
        """Start the child process (or the thread)."""
        if not self._process:
            self._thread.start()
            return
        self._child = subprocess.Popen(
            [sys.executable, "-m", "mailops.smtp.indexer", str(self._store_path),
             str(self._batch)], stdin=subprocess.PIPE)
        assert self._child.stdin is not None
        self._wake_fd = self._child.stdin.fileno()
        # Never block the writer thread: a full pipe already means "work to do".
        os.set_blocking(self._wake_fd, False)

    def wake(self, _count: int = 0) -> None:
        """Tell the indexer new messages are stored (called by the writer)."""
        if self._child is None:
            self._wake.set()
            return
        with contextlib.suppress(BlockingIOError, BrokenPipeError, OSError):
            os.write(self._wake_fd, b".")

    def stop(self) -> None:
        """Index what is pending, then stop."""
        if self._child is None:
            self._stop.set()
            self._wake.set()
            if self._thread.is_alive():
                self._thread.join()
            return
        assert self._child.stdin is not None
        with contextlib.suppress(OSError):
            self._child.stdin.close()
        try:
            self._child.wait(timeout=120)
        except subprocess.TimeoutExpired:
            self._child.kill()
            self._child.wait()

    def _run(self) -> None:
        store = Store(self._store_path, tagging=_tagging())
        try:
            while True:
                self._wake.wait(timeout=1.0)
                self._wake.clear()
                self.indexed += index_all(store, self._batch)
                if self._stop.is_set():
                    return
        finally:
            store.close()


def _tagging() -> Tagging | None:
    """The auto-tagging rules, from the same config as the daemon's (`mailops serve`
    exports --home as MAILOPS_HOME); a config broken since start keeps the defaults."""
    from mailops.config import load_config
    from mailops.errors import ConfigError

    try:
        return load_config().tagging
    except ConfigError as exc:
        log.error("auto-tagging rules not loaded: %s", exc.message)
        return None


def child_main(store_path: Path, batch: int) -> None:
    """The indexer process: index on every wake byte on stdin, and once a second."""
    # Ctrl-C in a terminal reaches the whole process group; the daemon decides
    # when we stop (by closing our stdin), so a half-written batch never happens.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # Indexing can lag; SMTP replies cannot. Under load the kernel gives the
    # daemon's event loop the CPU first and the index catches up when it idles.
    with contextlib.suppress(OSError):
        os.nice(10)
    fd = sys.stdin.fileno()
    store = Store(store_path, tagging=_tagging())
    try:
        while True:
            ready, _, _ = select.select([fd], [], [], 1.0)
            eof = bool(ready) and not os.read(fd, 65536)
            index_all(store, batch, _SETTLE)
            if eof:
                return
    finally:
        store.close()


if __name__ == "__main__":
    child_main(Path(sys.argv[1]), int(sys.argv[2]) if len(sys.argv) > 2 else _BATCH)
