"""The mailbox's search bar and scope: live search (debounced), Escape, the
sidebar's folders and tags, and saving a search."""

from __future__ import annotations

from textual.widgets import Input, OptionList

from .mailbox_base import MailboxBase
from .widgets import QueryBar, Scope, Sidebar

DEBOUNCE = 0.15  # seconds of quiet typing before a search runs


class SearchControl(MailboxBase):
    """The search bar and the scope it searches in (a mixin of MailboxScreen)."""

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

    def select_scope(self, scope: Scope) -> None:
        """Show another folder or tag (the command palette's "Go to")."""
        self.scope = scope
        self.reload()
