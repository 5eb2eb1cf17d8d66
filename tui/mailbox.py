"""The mailbox screen: sidebar, search bar, message list, preview, status line.

Loading runs in thread workers with their own read-only store connections and
comes back as messages: a listing (`Loaded`, exclusive, so a newer query
cancels an older one), folder and tag counts (`Counted`), a preview
(`Previewed`). Changes (flags, tags, moves, deletes) are engine calls on the
app's store, then a reload that keeps the cursor on the same message (or, when
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
from textual.screen import Screen
from textual.timer import Timer
from textual.widgets import Input, OptionList, Static
from textual.worker import get_current_worker

from mailops.errors import MailopsError
from mailops.query import And, Node, QuerySyntaxError, parse
from mailops.store import Store
from mailops.store.listing import (
    ORDERS,
    SORT_LABELS,
    count,
    cursor_of,
    is_threads,
    position_of,
)
from mailops.trash import Trashed

from . import actions
from .message_list import MessageList
from .saved import SavedSearches
from .source import PAGE_SIZE, MessageSource, Readers
from .widgets import ALL_MAIL, KeyBar, Preview, QueryBar, Scope, Sidebar, folder_scope

DEBOUNCE = 0.15  # seconds of quiet typing before a search runs
COUNTS_EVERY = 5.0  # seconds between sidebar recounts while new mail arrives
PREVIEW_DELAY = 0.08  # seconds the cursor rests on a message before it is previewed


class MailboxScreen(Screen[None]):
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

    class Previewed(Message):
        """The readable view of a message, for the preview pane."""

        def __init__(self, row: dict[str, Any] | None, view: dict[str, Any] | None) -> None:
            super().__init__()
            self.row = row
            self.view = view

    def __init__(self, store: Store, readers: Readers, *, poll_interval: float = 1.0,
                 saved: SavedSearches | None = None) -> None:
        super().__init__()
        self.saved = saved or SavedSearches({}, None)
        self.store = store
        self.readers = readers
        self.poll_interval = poll_interval
        self.scope: Scope = folder_scope("INBOX")
        self.search_text = ""
        self.sort = "date"  # a mailops.store.listing sort: S cycles, o reverses, T threads
        self.flat_sort = "date"  # the sort to return to when leaving conversations
        self.generation = 0  # of the last load asked for
        self.shown = 0  # of the last load on screen
        self.undo: list[Trashed] = []
        self._debounce: Timer | None = None
        self._preview_timer: Timer | None = None
        self._reading = False  # the reader is open over this screen
        self.preview_pending = False  # a preview is scheduled or loading (tests wait on it)
        self._counted_at = 0.0
        self._counts_stale = False
        self._seen: tuple[int, int] = (store.max_id(), store.pending_count())
        self.query_error: QuerySyntaxError | None = None

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

    @property
    def messages(self) -> MessageList:
        """The message list."""
        return self.query_one(MessageList)

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
        total = self.messages.total if self.messages.source else 0
        known = self.messages.source is not None and self.messages.source.total is not None
        shown = f"{total:,}" if known else "counting"
        text = f"{self.scope.label}: {shown} message{'s' if total != 1 else ''}"
        if self.search_text.strip():
            text += f" matching {self.search_text.strip()}"
        if self.sort != "date":
            text += ", " + SORT_LABELS[self.sort]
        selection = self.messages.selection
        if selection:
            text += f"; {selection.size(total):,} selected"
            text += " (all matching)" if selection.everything else ""
        catching = getattr(self.app, "catching", "")
        if catching:
            text += f"  · catching mail on {catching}"
        status.update(text)

    # -- preview -------------------------------------------------------------------

    def on_message_list_highlighted(self, msg: MessageList.Highlighted) -> None:
        """Preview the highlighted message once the cursor rests (holding j or
        PageDown does not parse every message it passes)."""
        if self._preview_timer is not None:
            self._preview_timer.stop()
        if msg.row is None or self.query_one(Preview).has_class("hidden"):
            self.query_one(Preview).show(None)
            self.preview_pending = False
            return
        msg_id = int(msg.row["id"])
        self.preview_pending = True
        self._preview_timer = self.set_timer(PREVIEW_DELAY, lambda: self._preview(msg_id))

    @work(thread=True, exclusive=True, group="preview")
    def _preview(self, msg_id: int) -> None:
        from mailops.view import readable

        try:
            with self.readers.open() as store:
                row = store.get(msg_id)
                raw = store.raw(msg_id)
        except MailopsError:
            self.post_message(self.Previewed(None, None))
            return
        view = readable(row, raw)
        if not get_current_worker().is_cancelled:
            self.post_message(self.Previewed(row, view))

    def on_mailbox_screen_previewed(self, msg: Previewed) -> None:
        """Show a loaded preview."""
        self.query_one(Preview).show(msg.view, msg.row)
        self.preview_pending = False

    def on_message_list_opened(self, msg: MessageList.Opened) -> None:
        """Open the reader (and mark the message read); a conversation's thread."""
        from .reader import ReaderScreen

        if is_threads(self.sort):
            self.open_thread(msg.row)
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

    # -- search and scope ----------------------------------------------------------

    def action_search(self) -> None:
        """Focus the search bar."""
        self.query_one(QueryBar).focus()

    def on_input_changed(self, event: Input.Changed) -> None:
        """Live search: run the query once typing pauses."""
        if event.input.id != "query":
            return
        if self._debounce is not None:
            self._debounce.stop()
        self._debounce = self.set_timer(DEBOUNCE, self.run_search)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        """Enter: search now and go to the results."""
        if event.input.id != "query":
            return
        if self._debounce is not None:
            self._debounce.stop()
        self.run_search()
        if self.query_error is None:
            self.query_one(QueryBar).remember(event.value)
            self.messages.focus()

    def run_search(self) -> None:
        """Search with what the bar holds."""
        self.search_text = self.query_one(QueryBar).value
        self.reload()

    def action_clear_search(self) -> None:
        """Escape on the list: drop the selection, else the search."""
        if self.messages.selection:
            self.messages.selection.clear()
            self.messages.refresh()
            self.show_status()
            return
        bar = self.query_one(QueryBar)
        if bar.value or self.search_text:
            bar.value = ""
            if self._debounce is not None:
                self._debounce.stop()
            self.search_text = ""
            self.reload()

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        """A folder or tag picked in the sidebar."""
        scope = self.query_one(Sidebar).scopes.get(event.option_id or "")
        if scope is not None:
            self.scope = scope
            self.reload()
            self.messages.focus()

    def action_save_search(self) -> None:
        """Ctrl+S: save the current search (within the scope) under a name."""
        from .dialogs import PromptScreen

        text = self.search_text.strip()
        if not text or self.query_error is not None:
            self.notify("Type a search first (/)", severity="warning")
            return
        query = f"{self.scope.query or '-folder:Trash'} ({text})"

        def done(name: str | None) -> None:
            if not name or not name.strip():
                return
            try:
                self.saved.save(name.strip(), query)
            except OSError as exc:
                self.notify(f"cannot save the search: {exc}", severity="error")
                return
            self.query_one(Sidebar).saved = self.saved.all()
            self.notify(f"Saved search {name.strip()}: {query}")
            self.load_counts()  # rebuilds the sidebar

        self.app.push_screen(PromptScreen(f"Save search: {query}", placeholder="name"), done)

    def action_focus_sidebar(self) -> None:
        """Move to the folder list."""
        self.query_one(Sidebar).focus()

    def action_toggle_preview(self) -> None:
        """Show or hide the preview pane."""
        preview = self.query_one(Preview)
        preview.toggle_class("hidden")
        if not preview.has_class("hidden") and self.messages.current is not None:
            self._preview(int(self.messages.current["id"]))

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

    def action_quit(self) -> None:
        """Leave the app."""
        self.app.exit()

    # -- changes -------------------------------------------------------------------

    def changed(self, moved: bool = False) -> None:
        """After a change: reload keeping the cursor's place, refresh counts; a
        selection that was moved away (or deleted) is cleared."""
        if moved:
            self.messages.selection.clear()
        self.reload(keep=True)
        self.load_counts()

    def target(self) -> actions.Target | None:
        """What a key applies to: the selection, else the highlighted message."""
        lst = self.messages
        selection = lst.selection
        if selection:
            return actions.Target(lambda: selection.iter_ids(self.store),
                                  selection.size(lst.total), bulk=True)
        row = lst.current
        if row is None:
            self.notify("No message selected", severity="warning")
            return None
        return actions.Target(lambda: [int(row["id"])], 1, bulk=False)

    def _current(self) -> dict[str, Any] | None:
        row = self.messages.current
        if row is None:
            self.notify("No message selected", severity="warning")
        return row

    def action_toggle_select(self) -> None:
        """Select the highlighted message (or leave it out), then go to the next."""
        lst = self.messages
        row = lst.current
        if row is None:
            return
        lst.selection.toggle(int(row["id"]))
        lst.move_to(lst.cursor + 1)
        lst.refresh()
        self.show_status()

    def action_select_all(self) -> None:
        """Select every message of the listing (by its query: no ids loaded)."""
        lst = self.messages
        if lst.source is None:
            return
        if lst.selection.everything:
            lst.selection.clear()
        else:
            # Conversations list threads: the selection is their matching messages.
            matching = (count(self.store, lst.source.query) if is_threads(self.sort)
                        else None)
            lst.selection.select_all(lst.source.query, matching)
        lst.refresh()
        self.show_status()

    def _toggle(self, on: str, off: str, is_on: str) -> None:
        target = self.target()
        row = self.messages.current
        if target is not None:
            # The highlighted row decides the direction, for a selection too.
            actions.mark_target(self, target, off if row is not None and row[is_on] else on)

    def action_toggle_read(self) -> None:
        """Mark read, or unread if the highlighted message was read."""
        self._toggle("read", "unread", "read")

    def action_toggle_flag(self) -> None:
        """Flag, or unflag if the highlighted message was flagged."""
        self._toggle("flagged", "unflagged", "flagged")

    def action_tag(self) -> None:
        """Ask for +tag/-tag changes."""
        target = self.target()
        if target is not None:
            row = self.messages.current
            actions.ask_tags(self, target, " ".join(row["tags"]) if row else "")

    def action_move(self) -> None:
        """Ask for a folder to move the messages to."""
        target = self.target()
        if target is not None:
            actions.ask_move(self, target)

    def action_delete(self) -> None:
        """To the Trash (u undoes); in the Trash, for good after a question."""
        target = self.target()
        if target is not None:
            actions.delete(self, target)

    def action_undo(self) -> None:
        """Put back what the last delete moved to the Trash."""
        actions.undo(self)

    def select_scope(self, scope: Scope) -> None:
        """Show another folder or tag (the command palette's "Go to")."""
        self.scope = scope
        self.reload()


__all__ = ["ALL_MAIL", "MailboxScreen"]
