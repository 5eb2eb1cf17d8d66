"""The rows behind the message list: pages fetched from the store on demand.

A `MessageSource` is one listing (a query and a sort) seen as a sequence of
`total` rows. It holds at most `max_pages` pages of `page_size` rows (least
recently used goes first), never the whole listing. A page is fetched by
keyset paging from a neighbouring cached page (the usual case: scrolling),
else from a cursor found by position (a jump: the engine's `cursor_at`, from
whichever end is nearer). Plain Python, no Textual: fetching runs where the
caller runs it (the list on the UI thread for one page, workers for loads).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from mailops.query import Node
from mailops.store import MessageRow, Store
from mailops.store.listing import ORDERS, count, cursor_at, reverse_cursor
from mailops.store.listing import page as listing_page

PAGE_SIZE = 100
MAX_PAGES = 16


class MessageSource:
    """A window onto one sorted listing of the store, page by page."""

    def __init__(self, store: Store, query: str | Node | None = None, *, sort: str = "date",
                 total: int | None = None, page_size: int = PAGE_SIZE,
                 max_pages: int = MAX_PAGES) -> None:
        self.store = store
        self.query = query
        self.sort = sort
        self.page_size = page_size
        self.max_pages = max_pages
        self._pages: OrderedDict[int, list[MessageRow]] = OrderedDict()
        self.total = total
        self.fetches = 0  # pages fetched from the store (for tests and the benchmark)

    # -- loading -------------------------------------------------------------------

    def prime(self) -> None:
        """Fetch the first page and, when it is not the whole listing, the count."""
        first = self.page(0)
        if self.total is None:
            self.total = len(first) if len(first) < self.page_size else count(
                self.store, self.query, sort=self.sort)

    def adopt(self, number: int, rows: list[MessageRow]) -> None:
        """Take a page fetched elsewhere (a worker's first page)."""
        self._remember(number, rows)

    def _remember(self, number: int, rows: list[MessageRow]) -> None:
        self._pages[number] = rows
        self._pages.move_to_end(number)
        while len(self._pages) > self.max_pages:
            self._pages.popitem(last=False)

    def cached(self, number: int) -> bool:
        """Whether page `number` is in memory."""
        return number in self._pages

    def page(self, number: int) -> list[MessageRow]:
        """Page `number` (0-based), from the cache or the store."""
        rows = self._pages.get(number)
        if rows is not None:
            self._pages.move_to_end(number)
            return rows
        rows = self._fetch(number)
        self._remember(number, rows)
        return rows

    def _search(self, sort: str, after: str | None) -> list[MessageRow]:
        self.fetches += 1
        return listing_page(self.store, self.query, sort=sort, limit=self.page_size,
                            after=after)

    def _fetch(self, number: int) -> list[MessageRow]:
        size = self.page_size
        start = number * size
        before = self._pages.get(number - 1)
        if number == 0:
            return self._search(self.sort, None)
        if before and len(before) == size:  # scrolling down: continue from the page above
            return self._search(self.sort, before[-1]["cursor"])
        after = self._pages.get(number + 1)
        if after:  # scrolling up: the page below, read backwards
            back = reverse_cursor(self.sort, after[0]["cursor"])
            return self._flip(self._search(ORDERS[self.sort], back))
        total = self.total
        if total is not None and start >= total:
            return []
        if total is not None and total - start < start:
            # Nearer the end: count from there (the End key costs one short OFFSET).
            end = min(total, start + size)
            skip = total - end  # rows after this page
            cursor = cursor_at(self.store, self.query, ORDERS[self.sort], skip - 1)
            rows = self._flip(self._search(ORDERS[self.sort], cursor))
            return rows[-(end - start):] if end > start else []
        cursor = cursor_at(self.store, self.query, self.sort, start - 1)
        return self._search(self.sort, cursor) if cursor is not None else []

    def _flip(self, rows: list[MessageRow]) -> list[MessageRow]:
        """Rows read in the reverse order, put back in this order with our cursors."""
        for row in rows:
            row["cursor"] = reverse_cursor(ORDERS[self.sort], row["cursor"])
        return rows[::-1]

    # -- reading -------------------------------------------------------------------

    def row(self, index: int) -> MessageRow | None:
        """The row at `index`, fetching its page if needed; None past the end."""
        if index < 0 or (self.total is not None and index >= self.total):
            return None
        rows = self.page(index // self.page_size)
        offset = index % self.page_size
        return rows[offset] if offset < len(rows) else None

    def peek(self, index: int) -> MessageRow | None:
        """The row at `index` if its page is cached (never touches the store)."""
        rows = self._pages.get(index // self.page_size)
        if rows is None:
            return None
        offset = index % self.page_size
        return rows[offset] if offset < len(rows) else None

    def index_of(self, msg_id: int) -> int | None:
        """Where a message is among the cached pages (None if not cached)."""
        for number, rows in self._pages.items():
            for offset, row in enumerate(rows):
                if row["id"] == msg_id:
                    return number * self.page_size + offset
        return None

    def forget(self) -> None:
        """Drop every cached page (after a change to the listed messages)."""
        self._pages.clear()

    def describe(self) -> dict[str, Any]:
        """Counters for the status line and tests."""
        return {"total": self.total, "pages": sorted(self._pages), "fetches": self.fetches}


class Readers:
    """Read-only store connections for worker threads, opened once and reused.

    Opening costs a schema check, and on a passphrase-encrypted store a key
    derivation (~0.3 s); a reused connection also keeps its page cache warm. One
    connection serves one worker at a time; busy ones make the pool grow.
    """

    def __init__(self, store: Store) -> None:
        self.path = store.path
        self._free: list[Store] = []
        self._lock = threading.Lock()

    @contextmanager
    def open(self) -> Iterator[Store]:
        """A connection for the calling thread until the block ends."""
        with self._lock:
            store = self._free.pop() if self._free else None
        if store is None:
            store = Store(self.path, readonly=True)
        try:
            yield store
        finally:
            with self._lock:
                self._free.append(store)

    def close(self) -> None:
        """Close the idle connections (at exit)."""
        with self._lock:
            for store in self._free:
                store.close()
            self._free.clear()
