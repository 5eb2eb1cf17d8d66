"""The mailbox's views of the listing: sort, order, conversations, threads."""

from __future__ import annotations

from typing import Any

from mailops.store.listing import ORDERS, SORT_LABELS, is_threads

from .mailbox_base import MailboxBase


class Ordering(MailboxBase):
    """Sorting and conversations (a mixin of MailboxScreen)."""

    def action_toggle_order(self) -> None:
        """Reverse the order (newest/oldest first, A-Z/Z-A, ...); the cursor stays."""
        self.sort = ORDERS[self.sort]
        self.reload(keep=True)

    def action_cycle_sort(self) -> None:
        """Sort by date, then sender, subject, size (and back to date)."""
        cycle = ("date", "sender", "subject", "size")
        base = self.sort if self.sort in cycle else ORDERS.get(self.sort, "date")
        if is_threads(base):
            base = "size"  # leaving conversations: start the cycle over
        self.sort = self.flat_sort = cycle[(cycle.index(base) + 1) % len(cycle)]
        self.notify(f"Sorted {SORT_LABELS[self.sort]}")
        self.reload(keep=True)

    def action_toggle_threads(self) -> None:
        """List conversations (newest activity first, with counts), or messages."""
        if is_threads(self.sort):
            self.sort = self.flat_sort
        else:
            self.flat_sort = self.sort
            self.sort = "threads"
        self.reload(keep=True)

    def action_thread(self) -> None:
        """Open the highlighted message's conversation."""
        row = self._current()
        if row is not None:
            self.open_thread(row)

    def open_thread(self, row: dict[str, Any]) -> None:
        """Show the thread of this message as a tree."""
        from .thread import ThreadScreen

        self._reading = True
        self.app.push_screen(ThreadScreen(self.store, self.readers, int(row["id"])))
