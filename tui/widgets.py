"""Small widgets of the mailbox screen: the sidebar, the query bar, the preview."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from rich.text import Text
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.markup import escape
from textual.screen import Screen
from textual.widgets import Input, OptionList, Static
from textual.widgets.option_list import Option

from mailops.trash import in_trash

from .format import date_cell, quote_value


@dataclass(frozen=True)
class Scope:
    """What the sidebar selects: a query the search bar's query is ANDed with."""

    key: str  # option id: "all", "folder:NAME", "tag:NAME"
    label: str
    query: str | None  # None: every message but the Trash's

    @property
    def is_trash(self) -> bool:
        """Whether this is the Trash folder (deleting there is for good)."""
        return self.key.startswith("folder:") and in_trash(self.label)


ALL_MAIL = Scope("all", "All mail", None)


def folder_scope(name: str) -> Scope:
    """The scope of one folder."""
    return Scope(f"folder:{name}", name, f"folder:{quote_value(name)}")


def saved_scope(name: str, query: str) -> Scope:
    """The scope of a saved search (over every folder, the Trash included)."""
    return Scope(f"saved:{name}", name, query)


def tag_scope(name: str) -> Scope:
    """The scope of one tag."""
    return Scope(f"tag:{name}", name, f"tag:{quote_value(name)}")


def _entry(label: str, unread: int, total: int, width: int = 22) -> Text:
    text = Text(no_wrap=True, overflow="ellipsis")
    count = f"{unread}" if unread else ""
    text.append(label[: width - len(count) - 1].ljust(width - len(count)),
                style="bold" if unread else "")
    text.append(count, style="bold")
    return text


class Sidebar(OptionList):
    """Folders and tags with unread counts; selecting one changes the list's scope."""

    DEFAULT_CSS = """
    Sidebar, Sidebar:focus { width: 28; height: 1fr; border: none; border-right: solid $panel; }
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.scopes: dict[str, Scope] = {}
        self.saved: dict[str, str] = {}  # saved searches: name -> query

    def show_counts(self, folders: list[dict[str, Any]], tags: list[dict[str, Any]],
                    current: str) -> None:
        """Rebuild the entries from the engine's folder and tag counts."""
        unread_all = sum(f["unread"] for f in folders if not in_trash(f["folder"]))
        total_all = sum(f["total"] for f in folders if not in_trash(f["folder"]))
        scopes = [(ALL_MAIL, unread_all, total_all)]
        scopes += [(folder_scope(f["folder"]), f["unread"], f["total"]) for f in folders]
        options: list[Option] = [Option(_entry(s.label, u, n), id=s.key)
                                 for s, u, n in scopes[:1]]
        options.append(Option(Text("Folders", style="dim italic"), disabled=True))
        options += [Option(_entry(s.label, u, n), id=s.key) for s, u, n in scopes[1:]]
        if tags:
            options.append(Option(Text("Tags", style="dim italic"), disabled=True))
            for t in tags:
                scope = tag_scope(t["tag"])
                scopes.append((scope, t["unread"], t["count"]))
                options.append(Option(_entry("#" + t["tag"], t["unread"], t["count"]),
                                      id=scope.key))
        if self.saved:
            # Listed without counts: counting each would run every query.
            options.append(Option(Text("Searches", style="dim italic"), disabled=True))
            for name, query in self.saved.items():
                scope = saved_scope(name, query)
                scopes.append((scope, 0, 0))
                options.append(Option(_entry("/" + name, 0, 0), id=scope.key))
        self.scopes = {s.key: s for s, _, _ in scopes}
        highlighted = self.highlighted
        self.clear_options()
        self.add_options(options)
        try:
            self.highlighted = self.get_option_index(current)
        except Exception:  # the scope's folder emptied meanwhile: keep the old place
            self.highlighted = highlighted


class QueryBar(Input):
    """The search bar: the store's query language, live results as you type."""

    DEFAULT_CSS = """
    QueryBar { border: none; height: 1; padding: 0 1; background: $boost; }
    QueryBar:focus { border: none; background: $primary 20%; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "leave", "Back", show=False),
        Binding("up", "history(-1)", "Earlier query", show=False),
        Binding("down", "history(1)", "Later query", show=False),
    ]

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.history: list[str] = []  # queries run with Enter, oldest first (this session)
        self._back = 0  # how far Up has gone back (0: the text being typed)

    def remember(self, query: str) -> None:
        """Keep a query run with Enter (a repeat moves to the end)."""
        query = query.strip()
        if query:
            if query in self.history:
                self.history.remove(query)
            self.history.append(query)
        self._back = 0

    def action_history(self, step: int) -> None:
        """Up: an earlier query; Down: a later one, then an empty bar."""
        back = max(0, min(len(self.history), self._back - step))
        if back != self._back:
            self._back = back
            self.value = self.history[-back] if back else ""
            self.cursor_position = len(self.value)

    def action_leave(self) -> None:
        """Escape: back to the list, keeping the query (Escape there clears it)."""
        self.screen.focus_next("MessageList")


class Preview(VerticalScroll):
    """The highlighted message's headers and text, read-only."""

    DEFAULT_CSS = """
    Preview { height: 40%; border-top: solid $panel; padding: 0 1; }
    Preview.hidden { display: none; }
    """

    def compose(self):  # type: ignore[no-untyped-def]
        """One Static holding the text."""
        yield Static(id="preview-text", markup=False)

    def show(self, view: dict[str, Any] | None, row: dict[str, Any] | None = None) -> None:
        """Show a readable view (`mailops.view.readable`), or nothing."""
        body = self.query_one("#preview-text", Static)
        if view is None or row is None:
            body.update("")
            return
        text = Text(no_wrap=False)
        headers = view["headers"]
        for label in ("From", "To", "Subject"):
            if headers.get(label.lower()):
                text.append(f"{label}: ", style="bold")
                text.append(headers[label.lower()] + "\n")
        text.append("Date: ", style="bold")
        text.append(date_cell(row) + " UTC\n")
        if view["attachments"]:
            text.append("Attachments: ", style="bold")
            text.append(", ".join(view["attachments"]) + "\n")
        text.append("\n")
        text.append(view["text"][:20_000])
        body.update(text)
        self.scroll_home(animate=False)


class KeyBar(Static):
    """The bottom line of keys (clickable): the screen's shown bindings.

    One line of text, rebuilt when the focus changes which keys apply; Textual's
    Footer recomposes a widget per key instead, which costs more than the list does.
    """

    DEFAULT_CSS = """
    KeyBar { dock: bottom; height: 1; background: $panel; color: $text-muted; }
    """

    def on_mount(self) -> None:
        """Follow the screen's bindings."""
        self.screen.bindings_updated_signal.subscribe(self, self.show_keys)
        self.show_keys(self.screen)

    def on_unmount(self) -> None:
        """Stop following them."""
        self.screen.bindings_updated_signal.unsubscribe(self)

    def show_keys(self, screen: Screen[object]) -> None:
        """Draw the keys the focused widget and the screen answer to."""
        parts: list[str] = []
        seen: set[str] = set()
        for active in screen.active_bindings.values():
            binding = active.binding
            if not binding.show or not binding.description or binding.description in seen:
                continue
            seen.add(binding.description)
            key = binding.key.split(",")[0]
            shown = escape(self.app.get_key_display(binding))
            parts.append(f"[@click=app.simulate_key('{key}')][b]{shown}[/b] "
                         f"{escape(binding.description)}[/]")
        self.update(" " + "  ".join(parts) + "  [b]^p[/b] palette")
