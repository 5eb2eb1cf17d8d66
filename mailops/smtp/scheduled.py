"""Work the daemon does on a timer beside serving SMTP: retention for now."""

from __future__ import annotations

import threading
from pathlib import Path

from mailops.retention import Policy, apply_retention
from mailops.smtp.logfmt import event

FIRST_RUN_DELAY = 60.0  # let start-up and a first burst of mail pass


class RetentionTask:
    """A thread that applies the retention policy every `interval` seconds.

    It never runs the one-time full VACUUM (that would block ingest); on a store
    not yet converted to incremental vacuum, freed pages are reused by new mail.
    """

    def __init__(self, store_path: Path, policy: Policy, interval: float,
                 first_delay: float = FIRST_RUN_DELAY) -> None:
        self._store_path = store_path
        self._policy = policy
        self._interval = interval
        self._first_delay = first_delay
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="mailops-retention",
                                        daemon=True)

    def start(self) -> None:
        """Start the timer thread."""
        self._thread.start()

    def stop(self) -> None:
        """End a run in progress after its current batch and stop the thread."""
        self._stop.set()
        self._thread.join(timeout=30)

    def _run(self) -> None:
        delay = self._first_delay
        while not self._stop.wait(delay):
            delay = self._interval
            try:
                r = apply_retention(self._store_path, self._policy, stop=self._stop)
            except Exception as exc:  # keep serving; the next run tries again
                event("retention_failed", error=f"{type(exc).__name__}: {exc}")
                continue
            event("retention", messages=r.messages, raw_bytes=r.raw_bytes,
                  freed_bytes=r.file_bytes_freed, vacuum=r.vacuum, complete=r.complete)
