"""The mailbox screen: sidebar, search bar, message list, preview, status line.

This module is the loading; the search bar (search_control), changes and the
selection (changes), sorting and conversations (ordering), the preview pane
(preview_control) and the compose keys (compose_keys) are mixins, sharing the
state declared in mailbox_base.

Loading runs in thread workers with their own read-only store connections and
comes back as messages: a listing (`Loaded`, exclusive, so a newer query
cancels an older one), folder and tag counts (`Counted`), a preview
(`PreviewControl.Previewed`). Changes (flags, tags, moves, deletes) are engine calls
on the app's store, then a reload that keeps the cursor on the same message (or, when
that message left the listing, on the one that took its place).
"""

from __future__ import annotations

import time
from typing import Any, ClassVar

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.timer import Timer
from textual.widgets import Static
from textual.worker import get_current_worker

from mailops.errors import MailopsError
from mailops.query import And, Node, QuerySyntaxError, parse
from mailops.store import Store
from mailops.store.listing import count, cursor_of, is_threads, position_of

from . import actions
from .changes import Changes
from .compose_keys import ComposeKeys
from .message_list import MessageList
from .ordering import Ordering
from .preview_control import PREVIEW_DELAY, PreviewControl
from .saved import SavedSearches
from .search_control import DEBOUNCE, SearchControl
from .source import PAGE_SIZE, MessageSource, Readers
from .widgets import ALL_MAIL, KeyBar, Preview, QueryBar, Sidebar, folder_scope

COUNTS_EVERY = 5.0  # seconds between sidebar recounts while new mail arrives


class MailboxScreen(SearchControl, Changes, Ordering, PreviewControl, ComposeKeys):
    """The main screen."""

    AUTO_FOCUS = "MessageList"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("slash", "search", "Search"),
        Binding("q", "quit", "Quit"),
        Binding("escape", "clear_search", "Clear search", show=False),
        Binding("N", "toggle_read", "Read/unread"),
        Binding("F", "toggle_flag", "Flag"),
        Binding("plus", "tag", "Tag"),
        Binding("t", "thread", "Thread"),
        Binding("T", "toggle_threads", "Conversations", show=False),
        Binding("S", "cycle_sort", "Sort", show=False),
        Binding("m", "move", "Move"),
        Binding("d,delete", "delete", "Delete"),
        Binding("u", "undo", "Undo"),
        Binding("x", "toggle_select", "Select", show=False),
        Binding("asterisk", "select_all", "Select all", show=False),
        Binding("p", "toggle_preview", "Preview", show=False),
        Binding("o", "toggle_order", "Reverse order", show=False),
        Binding("s", "focus_sidebar", "Folders", show=False),
        Binding("ctrl+s", "save_search", "Save search", show=False),
        Binding("c", "compose", "Compose", show=False),
        Binding("r", "reply", "Reply", show=False),
        Binding("R", "reply_all", "Reply all", show=False),
        Binding("f", "forward", "Forward", show=False),
    ]
    DEFAULT_CSS = """
    #status { height: 1; padding: 0 1; background: $panel; color: $text-muted; }
    #query-error { display: none; padding: 0 1; color: $error; background: $boost; }
    #query-error.shown { display: block; }
    """

    class Loaded(Message):
        """A listing (or, with `pages` empty, only its count) is ready."""

        def __init__(self, generation: int, query: Node | None, sort: str,
                     pages: dict[int, list[Any]], total: int | None, cursor: int,
                     scroll: int | None) -> None:
            super().__init__()
            self.generation = generation
            self.query = query
            self.sort = sort
            self.pages = pages
            self.total = total
            self.cursor = cursor
            self.scroll = scroll

    class Counted(Message):
        """Folder and tag counts for the sidebar."""

        def __init__(self, folders: list[dict[str, Any]], tags: list[dict[str, Any]]) -> None:
            super().__init__()
            self.folders = folders
            self.tags = tags

    def __init__(self, store: Store, readers: Readers, *, poll_interval: float = 1.0,
                 saved: SavedSearches | None = None) -> None:
        super().__init__()
        self.saved = saved or SavedSearches({}, None)
        self.store = store
        self.readers = readers
        self.poll_interval = poll_interval
        self.scope = folder_scope("INBOX")
        self.search_text = ""
        self.sort = "date"  # a mailops.store.listing sort: S cycles, o reverses, T threads
        self.flat_sort = "date"  # the sort to return to when leaving conversations
        self.generation = 0  # of the last load asked for
        self.shown = 0  # of the last load on screen
        self.undo = []
        self._debounce = None
        self._preview_timer: Timer | None = None
        self._reading = False  # the reader is open over this screen
        self.preview_pending = False  # a preview is scheduled or loading (tests wait on it)
        self._counted_at = 0.0
        self._counts_stale = False
        self._seen: tuple[int, int] = (store.max_id(), store.pending_count())
        self.query_error = None

    def compose(self) -> ComposeResult:
        """Sidebar on the left; search bar, list and preview on the right."""
        with Horizontal():
            yield Sidebar(id="sidebar")
            with Vertical():
                yield QueryBar(placeholder="/ to search: from:alice is:unread after:7d",
                               id="query")
                yield Static(id="query-error", markup=False)
                yield MessageList(id="messages")
                yield Preview(id="preview")
        yield Static(id="status", markup=False)
        yield KeyBar()

    def on_mount(self) -> None:
        """Load the inbox, then the counts, and start watching for new mail."""
        self.messages.focus()
        self.query_one(Sidebar).saved = self.saved.all()
        self.reload()  # the sidebar's counts once the list is up: it goes first
        self.set_interval(self.poll_interval, self.poll)

    # -- loading -------------------------------------------------------------------

    def listing_query(self) -> Node | None:
        """The scope's query ANDed with the search bar's (QuerySyntaxError if bad)."""
        parts = [parse(self.scope.query if self.scope.query else "-folder:Trash")]
        if self.search_text.strip():
            parts.append(parse(self.search_text))
        return parts[0] if len(parts) == 1 else And(tuple(parts))

    def reload(self, keep: bool = False) -> None:
        """Load the listing again: from the top, or keeping the cursor's message."""
        try:
            query = self.listing_query()
        except QuerySyntaxError as exc:
            self.query_error = exc
            self.show_status()
            return
        self.query_error = None
        self.generation += 1
        lst = self.messages
        if not keep and lst.selection:  # another listing: "all matching" meant the old one
            lst.selection.clear()
        row = lst.current if keep else None
        keep_at: tuple[str | None, int] | None = None
        if row is not None:
            # Same sort: the row's cursor (even if the message left the listing);
            # a new sort: the worker looks the message up in it.
            same = lst.source is not None and lst.source.sort == self.sort
            keep_at = (row["cursor"] if same else None, int(row["id"]))
        self._load(self.generation, query, self.sort, keep_at, lst.total)

    def failed(self, exc: MailopsError) -> None:
        """A worker's engine error: one line, the app goes on (call from a thread)."""
        self.app.call_from_thread(self.notify, exc.message, severity="error")

    @work(thread=True, exclusive=True, group="load")
    def _load(self, generation: int, query: Node | None, sort: str,
              keep: tuple[str | None, int] | None, hint: int) -> None:
        try:
            self._load_listing(generation, query, sort, keep, hint)
        except MailopsError as exc:
            self.failed(exc)

    def _load_listing(self, generation: int, query: Node | None, sort: str,
                      keep_at: tuple[str | None, int] | None, hint: int) -> None:
        worker = get_current_worker()
        with self.readers.open() as store:
            source = MessageSource(store, query, sort=sort)
            keep = None
            if keep_at is not None:
                keep = keep_at[0] or cursor_of(store, query, sort, keep_at[1])
            if keep is None:
                first = source.page(0)
                total = len(first) if len(first) < PAGE_SIZE else None
                self.post_message(self.Loaded(generation, query, sort, {0: first}, total, 0, 0))
                if total is None and not worker.is_cancelled:
                    total = count(store, query, sort=sort)
                    self.post_message(self.Loaded(generation, query, sort, {}, total, 0, None))
                return
            # The rows first (with the old count), the exact count after: a flag
            # toggled on a million messages shows at once, the scroll bar follows.
            position = position_of(store, query, sort, keep)
            number = position // PAGE_SIZE
            pages = {number: source.page(number)}
            if worker.is_cancelled:
                return
            # The list keeps its scroll position: new mail appears above.
            self.post_message(self.Loaded(generation, query, sort, pages,
                                          max(hint, position + 1), position, None))
            total = count(store, query, sort=sort)
            if not worker.is_cancelled:
                self.post_message(self.Loaded(generation, query, sort, {}, total, 0, None))

    def on_mailbox_screen_loaded(self, msg: Loaded) -> None:
        """Show a listing the worker loaded (unless a newer load superseded it)."""
        if msg.generation != self.generation:
            return
        self.shown = msg.generation
        if not self._counted_at:
            self.load_counts()
        lst = self.messages
        if not msg.pages and lst.source is not None:  # the count arrived
            lst.source.total = msg.total
            lst.update_total()
        else:
            source = MessageSource(self.store, msg.query, sort=msg.sort, total=msg.total)
            for number, rows in msg.pages.items():
                source.adopt(number, rows)
            lst.set_source(source, msg.cursor, msg.scroll)
        self.show_status()

    def load_counts(self) -> None:
        """Refresh the sidebar's counts in the background."""
        self._counted_at = time.monotonic()
        self._counts_stale = False
        self._count()

    @work(thread=True, exclusive=True, group="counts")
    def _count(self) -> None:
        from mailops.store.tags import folder_counts, tag_counts

        try:
            with self.readers.open() as store:
                folders, tags = folder_counts(store), tag_counts(store)
        except MailopsError as exc:
            self.failed(exc)
            return
        self.post_message(self.Counted(folders, tags))

    def on_mailbox_screen_counted(self, msg: Counted) -> None:
        """Show the counts."""
        self.query_one(Sidebar).show_counts(msg.folders, msg.tags, self.scope.key)

    def poll(self) -> None:
        """Reload when mail arrived or was indexed (two cheap queries a second)."""
        seen = (self.store.max_id(), self.store.pending_count())
        if seen != self._seen:
            self._seen = seen
            self.reload(keep=True)
            self._counts_stale = True
        # Counting every folder reads the whole store (~1.5 s at a million
        # messages): under a steady stream of mail, at most every few seconds.
        if self._counts_stale and time.monotonic() - self._counted_at >= COUNTS_EVERY:
            self.load_counts()

    # -- opening -------------------------------------------------------------------

    def on_message_list_opened(self, msg: MessageList.Opened) -> None:
        """Open the reader (and mark the message read); a conversation's thread."""
        from mailops.drafts import is_draft  # lazily: it brings the compose path

        from .reader import ReaderScreen

        if is_threads(self.sort):
            self.open_thread(msg.row)
            return
        if is_draft(msg.row):  # a draft opens for editing
            self.edit_draft(int(msg.row["id"]))
            return
        actions.mark_read(self.store, msg.row)
        self._reading = True
        self.app.push_screen(ReaderScreen(self.store, self.readers, int(msg.row["id"]),
                                          self.step))

    def step(self, direction: int) -> int | None:
        """Move the list's cursor (the reader's next/previous); the new message's id."""
        lst = self.messages
        before = lst.cursor
        lst.move_to(lst.cursor + direction)
        row = lst.current
        if row is None or lst.cursor == before:
            return None
        actions.mark_read(self.store, row)
        return int(row["id"])

    def on_screen_resume(self) -> None:
        """Back from the reader: show what changed there (read flags). Dialogs
        reload on their own when they change something."""
        if self._reading:
            self._reading = False
            self.reload(keep=True)
            self.load_counts()

    def compose_target(self) -> int | None:
        """The highlighted message, for r, R and f."""
        row = self._current()
        return None if row is None else int(row["id"])

    def after_compose(self) -> None:
        """A draft saved or a message sent: show it."""
        self.changed()

    def action_quit(self) -> None:
        """Leave the app."""
        self.app.exit()

__all__ = ["ALL_MAIL", "DEBOUNCE", "PREVIEW_DELAY", "MailboxScreen"]
