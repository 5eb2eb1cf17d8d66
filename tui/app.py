"""`mailops tui`: the Textual application.

The app owns one read-write `Store` (the UI thread's; changes go through it)
and shows the mailbox screen; workers open their own read-only connections.
`?` lists the keys of the current screen; Ctrl+P opens the command palette,
which also offers every mailbox action and the folders to go to.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

from textual.app import App, SystemCommand
from textual.binding import Binding, BindingType
from textual.screen import Screen

from mailops.errors import UsageError
from mailops.store import Store

from .dialogs import HelpScreen
from .mailbox import MailboxScreen
from .saved import SavedSearches
from .source import Readers
from .widgets import Sidebar

if TYPE_CHECKING:
    from mailops.config import Config


class MailopsApp(App[None]):
    """The interactive mailbox over one mailops store."""

    TITLE = "mailops"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("question_mark", "help", "Keys"),
        Binding("ctrl+t", "toggle_theme", "Light/dark", show=False),
        Binding("H", "health", "Domain health", show=False),
    ]

    def __init__(self, store: Store, *, poll_interval: float = 1.0,
                 saved_searches: dict[str, str] | None = None,
                 saved_file: Path | None = None, catching: str = "",
                 theme: str = "textual-dark", config: Config | None = None) -> None:
        super().__init__()
        self.store = store
        self.config = config  # the domain-health screen's domains and audit options
        self.readers = Readers(store)  # the workers' connections
        self.poll_interval = poll_interval
        self.saved = SavedSearches(saved_searches or {}, saved_file)
        self.catching = catching  # `--serve`: where the catcher listens
        if theme not in self.available_themes:
            raise UsageError(f"unknown theme {theme!r}: use one of "
                             f"{', '.join(sorted(self.available_themes))}")
        self.theme = theme
        # Ctrl+T flips between the configured theme and its light or dark opposite.
        self._other_theme = "textual-dark" if self.current_theme.dark is False \
            else "textual-light"

    def on_mount(self) -> None:
        """Open the mailbox."""
        self.push_screen(MailboxScreen(self.store, self.readers,
                                       poll_interval=self.poll_interval, saved=self.saved))

    def on_unmount(self) -> None:
        """Close the workers' connections."""
        self.readers.close()

    @property
    def mailbox(self) -> MailboxScreen:
        """The mailbox screen (always at the bottom of the stack)."""
        return next(s for s in self.screen_stack if isinstance(s, MailboxScreen))

    def action_health(self) -> None:
        """Open the domain-health screen (once: `H` there does nothing)."""
        # Imported on first use: the audit engine (dnspython, httpx) would add most of
        # a second to every start of the mailbox.
        from .health import HealthScreen

        if not any(isinstance(s, HealthScreen) for s in self.screen_stack):
            self.push_screen(HealthScreen(self.store, self.config))

    async def action_quit(self) -> None:
        """Quit; a screen holding unsaved work (compose) keeps it first."""
        keep = getattr(self.screen, "keep_before_quit", None)
        if keep is not None and not keep():
            return
        await super().action_quit()

    def action_toggle_theme(self) -> None:
        """Switch between a light and a dark theme."""
        self.theme, self._other_theme = self._other_theme, self.theme

    def action_help(self) -> None:
        """Show every key the current screen answers to."""
        if isinstance(self.screen, HelpScreen):
            return
        keys: list[tuple[str, str]] = []
        seen: set[str] = set()
        for active in self.screen.active_bindings.values():
            binding = active.binding
            # The list's inherited horizontal scrolling and copy keys do nothing here.
            if binding.description and binding.description not in seen and not any(
                    word in binding.description for word in ("Left", "Right", "Copy")):
                seen.add(binding.description)
                keys.append((self.get_key_display(binding), binding.description))
        title = type(self.screen).__name__.removesuffix("Screen")
        self.push_screen(HelpScreen(f"{title} keys", keys))

    def get_system_commands(self, screen: Screen[object]) -> Iterable[SystemCommand]:
        """The palette: Textual's commands, the mailbox actions and its folders."""
        yield from super().get_system_commands(screen)
        yield SystemCommand("Domain health", "Audit results of the configured domains (H)",
                            self.action_health)
        if not isinstance(screen, MailboxScreen):
            return
        for title, action, help_text in (
                ("Search", "search", "Focus the search bar (/)"),
                ("Toggle read", "toggle_read", "Mark the message read or unread (N)"),
                ("Toggle flag", "toggle_flag", "Flag or unflag the message (F)"),
                ("Compose", "compose", "Write a new message (c)"),
                ("Reply", "reply", "Reply to the sender (r)"),
                ("Reply all", "reply_all", "Reply to the sender and every recipient (R)"),
                ("Forward", "forward", "Forward the message with its attachments (f)"),
                ("Tag", "tag", "Add or remove tags (+)"),
                ("Move", "move", "Move the message to a folder (m)"),
                ("Delete", "delete", "Move the message to the Trash (d)"),
                ("Undo delete", "undo", "Restore what the last delete moved (u)"),
                ("Toggle preview", "toggle_preview", "Show or hide the preview pane (p)"),
                ("Thread", "thread", "Open the message's conversation (t)"),
                ("Conversations", "toggle_threads", "List conversations or messages (T)"),
                ("Sort", "cycle_sort", "Sort by date, sender, subject, size (S)"),
                ("Reverse order", "toggle_order", "Newest/oldest first, A-Z/Z-A (o)"),
                ("Select", "toggle_select", "Select the message for a bulk action (x)"),
                ("Select all", "select_all", "Select every matching message (*)"),
                ("Save search", "save_search", "Save the current search (Ctrl+S)")):
            yield SystemCommand(title, help_text, partial(screen.run_action, action))
        for scope in screen.query_one(Sidebar).scopes.values():
            yield SystemCommand(f"Go to {scope.label}", f"Show {scope.label}",
                                partial(screen.select_scope, scope))
