"""What the mailbox screen's parts share: its state and the few calls between them.

The mailbox screen is assembled from small mixins (search_control, changes,
ordering), each a subclass of `MailboxBase`, so each part can be read alone and
type-checked against the state it uses. The listing itself (loading, counts,
preview) lives in `mailbox.MailboxScreen`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from textual.screen import Screen
from textual.timer import Timer
from textual.widgets import Static

from mailops.query import QuerySyntaxError
from mailops.store import Store
from mailops.trash import Trashed

from .message_list import MessageList
from .saved import SavedSearches
from .source import Readers
from .status import status_line
from .widgets import Scope


class MailboxBase(Screen[None]):
    """The mailbox screen's shared state; `MailboxScreen` fills in the loading."""

    store: Store
    readers: Readers
    saved: SavedSearches
    scope: Scope
    search_text: str
    sort: str  # a mailops.store.listing sort: S cycles, o reverses, T threads
    flat_sort: str  # the sort to return to when leaving conversations
    undo: list[Trashed]
    query_error: QuerySyntaxError | None
    _debounce: Timer | None
    _reading: bool  # a screen (reader, thread, compose) is open over this one

    @property
    def messages(self) -> MessageList:
        """The message list."""
        return self.query_one(MessageList)

    if TYPE_CHECKING:  # MailboxScreen defines them; the mixins call them
        def reload(self, keep: bool = False) -> None:
            """Load the listing again."""

        def load_counts(self) -> None:
            """Refresh the sidebar's counts."""

    def show_status(self) -> None:
        """The status line: scope, count, query, or the query's syntax error."""
        status = self.query_one("#status", Static)
        error = self.query_one("#query-error", Static)
        if self.query_error is not None:
            exc = self.query_error
            # A caret under the offending character of the search bar's text.
            error.update(f"{' ' * exc.position}^ expected {exc.expected}")
            error.add_class("shown")
            status.update(exc.message)
            return
        error.remove_class("shown")
        status.update(status_line(self.scope, self.messages, self.search_text, self.sort,
                                  getattr(self.app, "catching", "")))

    def _current(self) -> dict[str, Any] | None:
        row = self.messages.current
        if row is None:
            self.notify("No message selected", severity="warning")
        return row
