"""Group commit: one writer thread makes accepted messages durable in batches.

SMTP sessions hand their message to `submit()` and wait; the writer takes
everything queued, writes it in one transaction (one fsync for the batch) and
only then resolves each session's future, so the 250 reply always follows a
durable write. Under load, batches grow by themselves: while one fsync runs,
the next batch queues up.
"""

from __future__ import annotations

import asyncio
import contextlib
import queue
import threading
from collections.abc import Callable
from pathlib import Path

from mailops.store import Incoming, Store

_MAX_BATCH = 512
_MAX_BATCH_BYTES = 64 * 1024 * 1024
_AUTOCHECKPOINT_PAGES = 10_000
_Item = tuple[Incoming, asyncio.Future[int], asyncio.AbstractEventLoop]


def _resolve(fut: asyncio.Future[int], value: int | BaseException) -> None:
    if fut.done():  # the session went away meanwhile
        return
    if isinstance(value, BaseException):
        fut.set_exception(value)
    else:
        fut.set_result(value)


def _resolve_all(outcomes: list[tuple[asyncio.Future[int], int | BaseException]]) -> None:
    for fut, value in outcomes:
        _resolve(fut, value)


class GroupCommitWriter:
    """A thread that owns the store's write connection for raw messages."""

    def __init__(self, store_path: Path, on_commit: Callable[[int], None] | None = None,
                 synchronous: str = "FULL") -> None:
        self._queue: queue.SimpleQueue[_Item | None] = queue.SimpleQueue()
        self._store_path = store_path
        self._synchronous = synchronous
        self._on_commit = on_commit
        self._thread = threading.Thread(target=self._run, name="mailops-writer", daemon=True)
        self._started = threading.Event()
        self._error: BaseException | None = None
        self.batches = 0
        self.messages = 0

    def start(self) -> None:
        """Open the store in the writer thread and start taking messages."""
        self._thread.start()
        self._started.wait()
        if self._error is not None:
            raise self._error

    async def submit(self, item: Incoming) -> int:
        """Queue a message and wait until it is durable; returns its id."""
        return await self.submit_future(item)

    def submit_future(self, item: Incoming) -> asyncio.Future[int]:
        """Queue a message; the future (of the running loop) resolves to its id once
        it is durable. Lets the worker link answer without a task per message."""
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[int] = loop.create_future()
        self._queue.put((item, fut, loop))
        return fut

    def stop(self) -> None:
        """Write what is queued, then end the thread."""
        self._queue.put(None)
        self._thread.join()

    def _run(self) -> None:
        try:
            # Checkpoints (with their fsyncs of the database file) are left to the
            # indexer's connection, which commits after every batch anyway; here
            # they would delay SMTP replies. 10,000 pages is only a safety net.
            store = Store(self._store_path, synchronous=self._synchronous,
                          autocheckpoint=_AUTOCHECKPOINT_PAGES)
        except BaseException as exc:
            self._error = exc
            self._started.set()
            return
        self._started.set()
        try:
            stopping = False
            while not stopping:
                first = self._queue.get()
                if first is None:
                    break
                batch = [first]
                size = len(first[0].raw)
                while len(batch) < _MAX_BATCH and size < _MAX_BATCH_BYTES:
                    try:
                        nxt = self._queue.get_nowait()
                    except queue.Empty:
                        break
                    if nxt is None:
                        stopping = True
                        break
                    batch.append(nxt)
                    size += len(nxt[0].raw)
                self._write(store, batch)
        finally:
            store.close()

    def _write(self, store: Store, batch: list[_Item]) -> None:
        results: list[int | BaseException]
        try:
            results = list(store.add_raw([item for item, _, _ in batch]))
        except Exception as exc:  # disk full, store locked too long: fail the batch, go on
            results = [exc] * len(batch)
        else:
            self.batches += 1
            self.messages += len(batch)
        # One wake-up per event loop for the whole batch, not one per message.
        by_loop: dict[asyncio.AbstractEventLoop, list[tuple[asyncio.Future[int],
                                                            int | BaseException]]] = {}
        for (_, fut, loop), value in zip(batch, results, strict=True):
            by_loop.setdefault(loop, []).append((fut, value))
        for loop, outcomes in by_loop.items():
            # The loop may be closed at shutdown: the message is stored anyway.
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(_resolve_all, outcomes)
        if self._on_commit is not None:
            self._on_commit(len(batch))
