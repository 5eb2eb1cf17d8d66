"""Block until matching messages arrive: the engine behind `mailops wait` for CI."""

from __future__ import annotations

import time
from pathlib import Path

from mailops.errors import StoreError, TimeoutExpired
from mailops.query import parse
from mailops.store import MessageRow, Store
from mailops.tagging import Tagging


def wait_for(store_path: Path, query: str | None, *, timeout: float, count: int = 1,
             since_now: bool = False, after_id: int | None = None,
             interval: float = 0.1, tagging: Tagging | None = None) -> list[MessageRow]:
    """Return the first `count` messages matching `query`.

    With `since_now`, only messages stored after the call began count; with
    `after_id`, only messages with a higher id. Raises
    TimeoutExpired when `timeout` seconds pass first. The store may not exist
    yet (the daemon is still starting): that counts as empty. The query uses
    the search language (mailops.query); a syntax error is raised at once.
    """
    # Parsed once: a typo fails now, not at the timeout, and after:10m means
    # ten minutes before the wait started.
    node = parse(query) if query and query.strip() else None
    deadline = time.monotonic() + timeout
    store: Store | None = None
    baseline: int | None = after_id
    try:
        while True:
            if store is None and store_path.exists():
                try:
                    # wait may index before the daemon does: same auto-tagging
                    store = Store(store_path, tagging=tagging)
                except StoreError:
                    store = None
            if store is not None:
                if baseline is None:
                    baseline = store.max_id() if since_now else 0
                if store.pending_count():
                    store.index_pending(1000)
                rows = store.list(node, limit=count, after_id=baseline, oldest_first=True)
                if len(rows) >= count:
                    return rows
            elif baseline is None:
                baseline = 0
            if time.monotonic() >= deadline:
                what = f" matching {query!r}" if query else ""
                raise TimeoutExpired(
                    f"timed out after {timeout:g}s waiting for {count} message(s){what}")
            time.sleep(interval)
    finally:
        if store is not None:
            store.close()
