"""The reader: one message's text, headers, raw source, defects and attachments.

The text is the engine's readable view (`mailops.view.readable`: HTML reduced
to text, links listed); `h` adds the full header block, `v` switches to the
exact stored bytes, `s` saves the attachments into a folder. The message is
parsed in a thread worker, so a 25 MB message does not freeze the screen.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.message import Message
from textual.widgets import Static
from textual.worker import get_current_worker

from mailops.errors import MailopsError
from mailops.mime import clean
from mailops.store import Store

from .compose_keys import ComposeKeys
from .dialogs import PromptScreen
from .format import date_cell, size_cell
from .source import Readers
from .widgets import KeyBar

_RAW_SHOWN = 1 << 20  # bytes of raw source drawn; the rest is one `show --raw` away



def attachment_parts(view: dict[str, Any]) -> list[dict[str, Any]]:
    """The parts listed as attachments, numbered from 1 in this order (as
    `mailops.view.save_attachment` counts them)."""
    return [p for p in view["parts"] if p["filename"] or p["disposition"] == "attachment"]

class Body(VerticalScroll):
    """The scrolling text of the reader."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("j", "scroll_down", "Scroll down", show=False),
        Binding("k", "scroll_up", "Scroll up", show=False),
        Binding("space", "page_down", "Page down", show=False),
    ]


class ReaderScreen(ComposeKeys):
    """One message, full screen."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("q,escape", "back", "Back"),
        Binding("h", "toggle_headers", "Headers"),
        Binding("v", "toggle_raw", "Raw source"),
        Binding("s", "save", "Save attachments"),
        Binding("o", "open_attachment", "Open attachment"),
        Binding("n", "step(1)", "Next"),
        Binding("p", "step(-1)", "Previous"),
        # as in the mailbox (mutt's keys); the raw source moved to `v` for it
        Binding("r", "reply", "Reply", show=False),
        Binding("R", "reply_all", "Reply all", show=False),
        Binding("f", "forward", "Forward", show=False),
        Binding("c", "compose", "Compose", show=False),
    ]
    DEFAULT_CSS = """
    ReaderScreen Body { padding: 0 1; }
    """

    class Loaded(Message):
        """A message's readable view and raw bytes, parsed by the worker."""

        def __init__(self, msg_id: int, row: dict[str, Any] | None,
                     view: dict[str, Any] | None, raw: bytes, error: str = "") -> None:
            super().__init__()
            self.msg_id = msg_id
            self.row = row
            self.view = view
            self.raw = raw
            self.error = error

    def __init__(self, store: Store, readers: Readers, msg_id: int,
                 step: Callable[[int], int | None] | None = None) -> None:
        super().__init__()
        self.store = store
        self.readers = readers
        self.msg_id = msg_id
        self.step = step
        self.show_headers = False
        self.show_raw = False
        self.loaded: ReaderScreen.Loaded | None = None

    def compose(self) -> ComposeResult:
        """The text, scrolling, and the keys."""
        with Body():
            yield Static("Loading…", id="reader-text", markup=False)
        yield KeyBar()

    def on_mount(self) -> None:
        """Start loading the message."""
        self.query_one(Body).focus()
        self._load(self.msg_id)

    @work(thread=True, exclusive=True, group="reader")
    def _load(self, msg_id: int) -> None:
        from mailops.view import readable

        try:
            with self.readers.open() as store:
                row = store.get(msg_id)
                raw = store.raw(msg_id)
            view = readable(row, raw)
        except MailopsError as exc:
            self.post_message(self.Loaded(msg_id, None, None, b"", exc.message))
            return
        if not get_current_worker().is_cancelled:
            self.post_message(self.Loaded(msg_id, row, view, raw))

    def on_reader_screen_loaded(self, msg: Loaded) -> None:
        """Show what the worker loaded."""
        if msg.msg_id != self.msg_id:
            return
        self.loaded = msg
        self.render_message()

    def render_message(self) -> None:
        """Draw the current mode (text, or raw) of the loaded message."""
        msg = self.loaded
        body = self.query_one("#reader-text", Static)
        if msg is None:
            return
        if msg.view is None or msg.row is None:
            body.update(Text(msg.error or "cannot show this message", style="bold red"))
            return
        self.sub_title = msg.view["headers"]["subject"]
        if self.show_raw:
            shown = clean(msg.raw[:_RAW_SHOWN].decode("utf-8", "replace"))
            if len(msg.raw) > _RAW_SHOWN:
                shown += f"\n[{len(msg.raw) - _RAW_SHOWN} more bytes: mailops show {msg.msg_id}"
                shown += " --raw]"
            body.update(Text(shown))
        else:
            body.update(self.readable_text(msg.row, msg.view, msg.raw))
        self.query_one(Body).scroll_home(animate=False)

    def readable_text(self, row: dict[str, Any], view: dict[str, Any], raw: bytes) -> Text:
        """Headers, defects, attachments, the text and its links."""
        from mailops.view import header_block

        text = Text()
        if self.show_headers:
            block = clean(header_block(raw).decode("utf-8", "replace")).rstrip()
            text.append(block + "\n", style="dim")
        else:
            headers = view["headers"]
            for label in ("From", "To", "Cc", "Subject"):
                if headers.get(label.lower()):
                    text.append(f"{label}: ", style="bold")
                    text.append(headers[label.lower()] + "\n")
            text.append("Date: ", style="bold")
            text.append(f"{date_cell(row)} UTC\n")
            if row["tags"]:
                text.append("Tags: ", style="bold")
                text.append(" ".join(row["tags"]) + "\n")
        from mailops.view import auth_summary  # loaded with the message, not at start

        for server, verdicts in auth_summary(view.get("auth", [])):
            text.append("Authentication: ", style="bold")
            for method, result in verdicts:
                style = {"pass": "green", "fail": "red", "softfail": "yellow",
                         "permerror": "red", "temperror": "yellow"}.get(result.lower(), "")
                text.append(f"{method}=")
                text.append(result, style=style)
                text.append(" ")
            text.append(f"(by {server})\n" if server else "\n", style="dim")
        if view["defects"]:
            text.append("Parse defects: ", style="bold yellow")
            text.append("; ".join(view["defects"]) + "\n", style="yellow")
        for part in attachment_parts(view):
            text.append("Attachment: ", style="bold")
            text.append(f"{part['filename'] or 'part ' + str(part['number'])}"
                        f" ({part['content_type']}, {size_cell(part['size'])})\n")
        text.append("\n")
        text.append(view["text"])
        if view["links"]:
            text.append("\n\nLinks:\n", style="bold")
            for i, link in enumerate(view["links"], 1):
                text.append(f"[{i}] ", style="dim")
                text.append(link + "\n")
        return text

    def compose_target(self) -> int | None:
        """The message shown, for a, R and f."""
        return self.msg_id

    def action_back(self) -> None:
        """Back to the mailbox."""
        self.app.pop_screen()

    def action_toggle_headers(self) -> None:
        """Show every header as received, or the short summary."""
        self.show_headers = not self.show_headers
        self.show_raw = False
        self.render_message()

    def action_toggle_raw(self) -> None:
        """Show the exact stored bytes, or the readable text."""
        self.show_raw = not self.show_raw
        self.render_message()

    def action_step(self, direction: int) -> None:
        """The next or previous message of the mailbox's list."""
        found = self.step(direction) if self.step else None
        if found is None:
            self.notify("No more messages", severity="warning")
            return
        self.msg_id = found
        self.loaded = None
        self.query_one("#reader-text", Static).update("Loading…")
        self._load(found)

    def action_save(self) -> None:
        """Ask for a folder and save every attachment into it."""
        msg = self.loaded
        if msg is None or msg.view is None or not msg.view["attachments"]:
            self.notify("This message has no attachments", severity="warning")
            return

        def done(folder: str | None) -> None:
            from mailops.view import save_attachments

            if not folder or not folder.strip():
                return
            try:
                saved = save_attachments(msg.raw, Path(folder.strip()).expanduser())
            except MailopsError as exc:
                self.notify(exc.message, severity="error")
                return
            self.notify(f"Saved {len(saved)} file(s) to {folder.strip()}")

        self.app.push_screen(PromptScreen("Save attachments to folder",
                                          str(Path.cwd() / "attachments")), done)

    def action_open_attachment(self) -> None:
        """Open an attachment with the system's opener (asks which when there are several)."""
        msg = self.loaded
        count = len(attachment_parts(msg.view)) if msg is not None and msg.view else 0
        if msg is None or not count:
            self.notify("This message has no attachments", severity="warning")
            return
        raw = msg.raw

        def chosen(answer: str | None) -> None:
            if answer is None or not answer.strip():
                return
            if not answer.strip().isdigit():
                self.notify(f"Give a number from 1 to {count}", severity="error")
                return
            self._open(raw, int(answer))

        if count == 1:
            self._open(raw, 1)
        else:
            self.app.push_screen(PromptScreen(f"Open attachment (1-{count})", "1"), chosen)

    def _open(self, raw: bytes, index: int) -> None:
        import tempfile

        from mailops.view import save_attachment

        from .compose import app_config
        from .opener import open_file

        try:
            # A private folder per open: the viewer may read the file after we return.
            path = save_attachment(raw, index, Path(tempfile.mkdtemp(prefix="mailops-open-")))
            open_file(path, app_config(self.app).get_str("tui.opener"))
        except MailopsError as exc:
            self.notify(exc.message, severity="error")
            return
        self.notify(f"Opened {path.name}")
