"""Background indexing: parse stored raw messages and feed the search index.

Runs beside the receive daemon so that parsing never delays an SMTP reply.
Search lags ingest by the time one batch takes (well under a second).
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path

from mailops.store import Store

log = logging.getLogger("mailops.indexer")


class Indexer:
    """A thread that indexes pending messages whenever it is woken (or every second)."""

    def __init__(self, store_path: Path, batch: int = 200) -> None:
        self._store_path = store_path
        self._batch = batch
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="mailops-indexer", daemon=True)
        self.indexed = 0

    def start(self) -> None:
        """Start the thread."""
        self._thread.start()

    def wake(self, _count: int = 0) -> None:
        """Tell the indexer new messages are stored (called by the writer)."""
        self._wake.set()

    def stop(self) -> None:
        """Index what is pending, then stop."""
        self._stop.set()
        self._wake.set()
        self._thread.join()

    def _run(self) -> None:
        store = Store(self._store_path)
        try:
            while True:
                self._wake.wait(timeout=1.0)
                self._wake.clear()
                while True:
                    try:
                        done = store.index_pending(self._batch)
                    except Exception:  # keep serving; the next wake retries
                        log.exception("indexing failed")
                        break
                    self.indexed += done
                    if done < self._batch:
                        break
                if self._stop.is_set():
                    return
        finally:
            store.close()
