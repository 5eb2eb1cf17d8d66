"""The compose screen: write, reply, forward; save drafts in the store; send.

To, Cc, Bcc and Subject are inputs, the body a TextArea; Ctrl+E hands the body
to $VISUAL/$EDITOR (the app suspends meanwhile). Attachments are files: Ctrl+O
adds one by path, Ctrl+R removes one. Ctrl+S saves the draft (folder "drafts",
replacing its previous copy: `mailops.drafts`). Ctrl+X sends through
`mailops.send`, like `mailops send` with the config's send.server, send.from and
send.timeout, in a thread worker; on success the draft is deleted, a copy goes
to "sent" and the screen closes; on failure the error stays on the status line
and the draft is saved.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import ClassVar

from textual import work
from textual.app import ComposeResult, SuspendNotSupported
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Input, Label, Static, TextArea

from mailops import drafts
from mailops.compose import Draft, Outgoing, build_message
from mailops.config import Config, load_config
from mailops.errors import MailopsError
from mailops.send import SendOptions, SendResult, options_from_config, send
from mailops.store import Store
from mailops.store.tags import mark

from .dialogs import ConfirmScreen, PromptScreen
from .format import size_cell
from .widgets import KeyBar

_FIELDS = (("from", "From"), ("to", "To"), ("cc", "Cc"), ("bcc", "Bcc"),
           ("subject", "Subject"))


def app_config(app: object) -> Config:
    """The app's config (`mailops tui` passes it), else the environment's."""
    config = getattr(app, "config", None)
    return config if isinstance(config, Config) else load_config()


def _field_names(message: str) -> str:
    """compose's errors name `mailops send` flags; here they are fields."""
    for flag, label in (("--to ", "To "), ("--cc ", "Cc "), ("--bcc ", "Bcc "),
                        ("--from ", "From "), ("no recipients: give --to, --cc or --bcc",
                                               "no recipients: fill in To, Cc or Bcc")):
        if message.startswith(flag):
            return label + message[len(flag):]
    return message


def editor_command() -> list[str]:
    """$VISUAL, else $EDITOR, else vi, split as a shell would."""
    return shlex.split(os.environ.get("VISUAL") or os.environ.get("EDITOR") or "vi")


class ComposeScreen(Screen[None]):
    """One message being written: a new one, a reply, a forward, or a draft."""

    BINDINGS: ClassVar[list[BindingType]] = [
        # Priority: the inputs and the TextArea have their own Ctrl keys (Ctrl+E
        # is end of line there, Ctrl+X cut); these win while composing.
        Binding("ctrl+x", "send", "Send", priority=True),
        Binding("ctrl+s", "save", "Save draft", priority=True),
        Binding("ctrl+e", "edit", "$EDITOR", priority=True),
        Binding("ctrl+o", "attach", "Attach", priority=True),
        Binding("ctrl+r", "detach", "Remove attachment", priority=True),
        Binding("escape", "close", "Close"),
    ]
    DEFAULT_CSS = """
    ComposeScreen #fields { height: auto; }
    ComposeScreen .field { height: 1; }
    ComposeScreen .field Label { width: 10; padding: 0 1; color: $text-muted; }
    ComposeScreen .field Input { border: none; height: 1; padding: 0; width: 1fr; }
    ComposeScreen .field Input:focus { background: $boost; }
    ComposeScreen TextArea { height: 1fr; }
    ComposeScreen #attachments { height: auto; padding: 0 1; color: $text-muted; }
    ComposeScreen #compose-status { height: 1; padding: 0 1; background: $panel; }
    ComposeScreen #compose-status.error { color: $error; }
    """

    class Sent(Message):
        """The send worker finished: a result, or a one-line error."""

        def __init__(self, message: Outgoing, result: SendResult | None,
                     error: str = "") -> None:
            super().__init__()
            self.message = message
            self.result = result
            self.error = error

    def __init__(self, store: Store, draft: Draft, *, draft_id: int | None = None,
                 replying_to: int | None = None, workdir: Path | None = None) -> None:
        super().__init__()
        self.store = store
        self.draft = draft
        self.draft_id = draft_id  # the stored copy this edits (None: not saved yet)
        self.replying_to = replying_to  # marked replied once sent
        self.attachments = list(draft.attachments)
        # Attachments of a forward or a reopened draft are files written here.
        self.workdir = workdir or Path(tempfile.mkdtemp(prefix="mailops-compose-"))
        self.sending = False
        self.saved_state = self.current_state()

    def compose(self) -> ComposeResult:
        """The header fields, the body, the attachments, a status line and the keys."""
        values = {"from": self.draft.sender, "to": ", ".join(self.draft.to),
                  "cc": ", ".join(self.draft.cc), "bcc": ", ".join(self.draft.bcc),
                  "subject": self.draft.subject or ""}
        with Vertical(id="fields"):
            for key, label in _FIELDS:
                with Horizontal(classes="field"):
                    yield Label(f"{label}:")
                    yield Input(values[key], id=f"field-{key}")
        yield TextArea(self.draft.body, id="body", soft_wrap=True)
        yield Static(id="attachments", markup=False)
        yield Static(id="compose-status", markup=False)
        yield KeyBar()

    def on_mount(self) -> None:
        """Focus To when it is empty (a new message, a forward), else the body."""
        self.sub_title = self.draft.subject or "New message"
        self.show_attachments()
        self.saved_state = self.current_state()
        if self.draft.to:
            body = self.query_one("#body", TextArea)
            body.focus()
            body.move_cursor((0, 0))
        else:
            self.query_one("#field-to", Input).focus()

    def on_unmount(self) -> None:
        """The attachment copies are in the stored draft (or sent) by now."""
        shutil.rmtree(self.workdir, ignore_errors=True)

    # -- the draft -----------------------------------------------------------------

    def field(self, key: str) -> str:
        """What a header field holds."""
        return self.query_one(f"#field-{key}", Input).value.strip()

    def current(self) -> Draft:
        """The draft as the screen shows it."""
        return Draft(sender=self.field("from"), to=[self.field("to")], cc=[self.field("cc")],
                     bcc=[self.field("bcc")], subject=self.field("subject") or None,
                     body=self.query_one("#body", TextArea).text,
                     attachments=list(self.attachments), headers=list(self.draft.headers))

    def current_state(self) -> tuple[object, ...]:
        """What "unsaved changes" compares (before mounting: the draft given)."""
        d = self.current() if self.is_mounted else self.draft
        return (d.sender, *(", ".join(v.strip() for v in values if v.strip())
                            for values in (d.to, d.cc, d.bcc)),
                d.subject or "", d.body, tuple(d.attachments))

    def status(self, text: str, error: bool = False) -> None:
        """One line under the body."""
        line = self.query_one("#compose-status", Static)
        line.update(text)
        line.set_class(error, "error")

    def show_attachments(self) -> None:
        """List the attached files, numbered for Ctrl+R."""
        parts = []
        for i, path in enumerate(self.attachments, 1):
            size = size_cell(path.stat().st_size) if path.exists() else "missing"
            parts.append(f"[{i}] {path.name} ({size})")
        widget = self.query_one("#attachments", Static)
        widget.update("Attachments: " + "  ".join(parts) if parts else "")
        widget.display = bool(parts)

    def save_draft(self) -> bool:
        """Store the draft (replacing its previous copy); whether it worked."""
        try:
            self.draft_id = drafts.save(self.store, self.current(), replaces=self.draft_id)
        except MailopsError as exc:
            self.status(f"cannot save the draft: {exc.message}", error=True)
            return False
        self.saved_state = self.current_state()
        return True

    def action_save(self) -> None:
        """Ctrl+S: save the draft in the store."""
        if self.save_draft():
            self.status("Draft saved (folder drafts)")

    # -- editing -------------------------------------------------------------------

    def action_edit(self) -> None:
        """Ctrl+E: edit the body in $EDITOR, the app suspended meanwhile."""
        body = self.query_one("#body", TextArea)
        path = self.workdir / "body.txt"
        path.write_text(body.text, encoding="utf-8")
        command = [*editor_command(), str(path)]
        try:
            try:
                with self.app.suspend():
                    code = subprocess.call(command)
            except SuspendNotSupported:  # no terminal to hand over (headless, web)
                code = subprocess.call(command, stdin=subprocess.DEVNULL)
        except OSError as exc:
            self.status(f"cannot run {command[0]}: {exc.strerror or exc}", error=True)
            return
        if code != 0:
            self.status(f"{command[0]} exited with status {code}; the body is unchanged",
                        error=True)
            return
        body.text = path.read_text(encoding="utf-8", errors="replace")
        self.status("Body edited in " + Path(command[0]).name)

    def action_attach(self) -> None:
        """Ctrl+O: ask for a file to attach."""

        def done(value: str | None) -> None:
            if not value or not value.strip():
                return
            path = Path(value.strip()).expanduser()
            if not path.is_file():
                self.status(f"not a file: {path}", error=True)
                return
            self.attachments.append(path.resolve())
            self.show_attachments()
            self.status(f"Attached {path.name}")

        self.app.push_screen(PromptScreen("Attach file", str(Path.cwd()) + os.sep), done)

    def action_detach(self) -> None:
        """Ctrl+R: remove an attachment (asks which when there are several)."""
        if not self.attachments:
            self.status("No attachments", error=True)
            return

        def done(value: str | None) -> None:
            if value is None:
                return
            try:
                removed = self.attachments.pop(int(value) - 1)
            except (ValueError, IndexError):
                self.status(f"no attachment {value!r}", error=True)
                return
            self.show_attachments()
            self.status(f"Removed {removed.name}")

        if len(self.attachments) == 1:
            done("1")
            return
        self.app.push_screen(PromptScreen(
            f"Remove attachment (1-{len(self.attachments)})", placeholder="number"), done)

    # -- sending -------------------------------------------------------------------

    def action_send(self) -> None:
        """Ctrl+X: build the message and send it in a worker."""
        if self.sending:
            return
        config = app_config(self.app)
        try:
            message = build_message(self.current())
            # [send] server, security, user (password from the environment or the
            # keyring: there is no prompt in the TUI), cafile, timeout
            opts = options_from_config(config)
        except MailopsError as exc:  # a field, the settings or no password: say which
            self.status(_field_names(exc.message), error=True)
            return
        self.sending = True
        self.status(f"Sending via {opts.server}…")
        self._send(message, opts)

    @work(thread=True, exclusive=True, group="send")
    def _send(self, message: Outgoing, opts: SendOptions) -> None:
        try:
            result = send(message, opts)
        except MailopsError as exc:
            self.post_message(self.Sent(message, None, exc.message))
            return
        self.post_message(self.Sent(message, result))

    def on_compose_screen_sent(self, msg: Sent) -> None:
        """Sent: keep a copy in "sent", drop the draft, close. Failed: say why and
        keep the draft (saved now, so it outlives the app)."""
        self.sending = False
        if msg.result is None:
            self.save_draft()
            self.status(f"not sent: {msg.error} (draft kept)", error=True)
            return
        try:
            drafts.record_sent(self.store, msg.message, self.draft_id)
            if self.replying_to is not None:
                mark(self.store, [self.replying_to], "replied")
        except MailopsError as exc:
            self.notify(f"sent, but not recorded: {exc.message}", severity="warning")
        self.draft_id = None
        count = len(msg.result.accepted)
        self.notify(f"Sent to {count} recipient{'s' if count != 1 else ''} via "
                    f"{msg.result.server}")
        self.dismiss(None)

    def keep_before_quit(self) -> bool:
        """The app is quitting (Ctrl+Q): unsaved changes become a draft first, with no
        question (quitting must not lose a message; mutt postpones one too). False
        when that failed: the status line says why, and the app stays."""
        return self.current_state() == self.saved_state or self.save_draft()

    def action_close(self) -> None:
        """Escape: close; unsaved changes are saved as a draft if you say so."""
        if self.sending:
            self.status("Still sending…", error=True)
            return
        if self.current_state() == self.saved_state:
            self.dismiss(None)
            return

        def done(yes: bool | None) -> None:
            if yes and not self.save_draft():
                return
            self.dismiss(None)

        self.app.push_screen(ConfirmScreen("Save this message as a draft?"), done)
