"""The mailbox's multi-selection: marked rows, or every row matching a query.

`x` marks single messages (their ids are kept); `*` selects all matching the
listing's query without loading a single id (ids come from the store, a page at
a time, only when an action applies: `mailops.store.listing.iter_ids`), and `x`
then leaves individual rows out. Plain Python, no Textual.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

from mailops.query import Node
from mailops.store import Store
from mailops.store.listing import iter_ids


@dataclass
class Selection:
    """Which messages a bulk action applies to."""

    ids: set[int] = field(default_factory=set)  # marked one by one
    everything: bool = False  # all matching `query`, minus `excluded`
    query: str | Node | None = None
    excluded: set[int] = field(default_factory=set)
    matching: int | None = None  # messages matching `query`, when the rows are not messages

    def __bool__(self) -> bool:
        return self.everything or bool(self.ids)

    def contains(self, msg_id: int) -> bool:
        """Whether this message is selected."""
        return msg_id not in self.excluded if self.everything else msg_id in self.ids

    def toggle(self, msg_id: int) -> None:
        """Select the message, or leave it out if it was selected."""
        if self.everything:
            self.excluded ^= {msg_id}
        else:
            self.ids ^= {msg_id}

    def select_all(self, query: str | Node | None, matching: int | None = None) -> None:
        """Every message matching `query` (the listing's); `matching` counts them
        when the listing's rows are not messages (conversations)."""
        self.everything, self.query, self.matching = True, query, matching
        self.ids.clear()
        self.excluded.clear()

    def clear(self) -> None:
        """Nothing selected."""
        self.everything, self.query, self.matching = False, None, None
        self.ids.clear()
        self.excluded.clear()

    def size(self, total: int) -> int:
        """How many are selected, given how many rows the listing has."""
        if self.everything:
            return max(0, (total if self.matching is None else self.matching)
                       - len(self.excluded))
        return len(self.ids)

    def iter_ids(self, store: Store) -> Iterator[int]:
        """The selected ids (for all-matching: from the store, page by page)."""
        if self.everything:
            yield from iter_ids(store, self.query, exclude=frozenset(self.excluded))
        else:
            yield from sorted(self.ids)
