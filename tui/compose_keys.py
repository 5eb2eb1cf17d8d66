"""The keys that open the compose screen: c (new), r (reply), R (reply to all),
f (forward), and opening a stored draft for editing. A mixin of the mailbox and
reader screens; each says which message the keys apply to (`compose_target`).
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from textual.screen import Screen

from mailops.errors import MailopsError
from mailops.store import Store

if TYPE_CHECKING:
    from mailops.compose import Draft

# The compose screen, mailops.reply and mailops.drafts (the email package, the send
# path) are imported on the first c/r/R/f: every TUI start would pay for them.


class ComposeKeys(Screen[None]):
    """Compose, reply, reply-all and forward from a screen showing messages."""

    store: Store

    def compose_target(self) -> int | None:
        """The message r, R and f apply to (None: tell the user why). The mailbox
        and the reader say which; a screen without messages has none."""
        self.notify("No message to answer here", severity="warning")
        return None

    def after_compose(self) -> None:
        """Called when the compose screen closes (a draft or "sent" may have changed)."""

    def open_compose(self, draft: Draft, *, draft_id: int | None = None,
                     replying_to: int | None = None, workdir: Path | None = None) -> None:
        """Push the compose screen."""
        from .compose import ComposeScreen

        screen = ComposeScreen(self.store, draft, draft_id=draft_id, replying_to=replying_to,
                               workdir=workdir)
        self.app.push_screen(screen, lambda _: self.after_compose())

    def action_compose(self) -> None:
        """A new message."""
        from mailops.compose import Draft

        from .compose import app_config

        self.open_compose(Draft(sender=app_config(self.app).get_str("send.from")))

    def _respond(self, kind: str) -> None:
        from mailops import reply

        from .compose import app_config

        msg_id = self.compose_target()
        if msg_id is None:
            return
        sender = app_config(self.app).get_str("send.from")
        workdir = Path(tempfile.mkdtemp(prefix="mailops-compose-"))
        try:
            row, raw = self.store.get(msg_id), self.store.raw(msg_id)
            if kind == "forward":
                draft = reply.forward(row, raw, sender, workdir)
            else:
                draft = reply.reply(row, raw, sender, to_all=kind == "all")
        except MailopsError as exc:
            self.notify(exc.message, severity="error")
            return
        self.open_compose(draft, replying_to=None if kind == "forward" else msg_id,
                          workdir=workdir)

    def action_reply(self) -> None:
        """Reply to the sender (Reply-To when set)."""
        self._respond("reply")

    def action_reply_all(self) -> None:
        """Reply to the sender and every other recipient but you."""
        self._respond("all")

    def action_forward(self) -> None:
        """Forward inline, with the attachments."""
        self._respond("forward")

    def edit_draft(self, msg_id: int) -> None:
        """Open a stored draft in the compose screen."""
        from mailops import drafts

        workdir = Path(tempfile.mkdtemp(prefix="mailops-compose-"))
        try:
            draft = drafts.load(self.store, msg_id, workdir)
        except MailopsError as exc:
            self.notify(exc.message, severity="error")
            return
        self.open_compose(draft, draft_id=msg_id, workdir=workdir)
