"""The mailbox's changes: the selection, what a key applies to, and the keys
that flag, tag, move, delete and undo (through `actions`, the engine calls)."""

from __future__ import annotations

from typing import TYPE_CHECKING, cast

from mailops.store.listing import count, is_threads

from . import actions
from .mailbox_base import MailboxBase

if TYPE_CHECKING:
    from .mailbox import MailboxScreen


class Changes(MailboxBase):
    """Selecting messages and changing them (a mixin of MailboxScreen)."""

    @property
    def _screen(self) -> MailboxScreen:
        # `actions` takes the whole screen, of which this is a part.
        return cast("MailboxScreen", self)

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
            actions.mark_target(self._screen, target, off if row is not None and row[is_on] else on)

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
            actions.ask_tags(self._screen, target, " ".join(row["tags"]) if row else "")

    def action_move(self) -> None:
        """Ask for a folder to move the messages to."""
        target = self.target()
        if target is not None:
            actions.ask_move(self._screen, target)

    def action_delete(self) -> None:
        """To the Trash (u undoes); in the Trash, for good after a question."""
        target = self.target()
        if target is not None:
            actions.delete(self._screen, target)

    def action_undo(self) -> None:
        """Put back what the last delete moved to the Trash."""
        actions.undo(self._screen)
