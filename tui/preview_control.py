"""The mailbox's preview pane: the highlighted message, parsed in a worker once
the cursor rests on it."""

from __future__ import annotations

from typing import Any

from textual import work
from textual.message import Message
from textual.timer import Timer
from textual.worker import get_current_worker

from mailops.errors import MailopsError

from .mailbox_base import MailboxBase
from .message_list import MessageList
from .widgets import Preview

PREVIEW_DELAY = 0.08  # seconds the cursor rests on a message before it is previewed


class PreviewControl(MailboxBase):
    """Previewing the highlighted message (a mixin of MailboxScreen)."""

    preview_pending: bool  # a preview is scheduled or loading (tests wait on it)
    _preview_timer: Timer | None

    class Previewed(Message):
        """The readable view of a message, for the preview pane."""

        def __init__(self, row: dict[str, Any] | None, view: dict[str, Any] | None) -> None:
            super().__init__()
            self.row = row
            self.view = view

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

    def on_preview_control_previewed(self, msg: Previewed) -> None:
        """Show a loaded preview."""
        self.query_one(Preview).show(msg.view, msg.row)
        self.preview_pending = False

    def action_toggle_preview(self) -> None:
        """Show or hide the preview pane."""
        preview = self.query_one(Preview)
        preview.toggle_class("hidden")
        if not preview.has_class("hidden") and self.messages.current is not None:
            self._preview(int(self.messages.current["id"]))
