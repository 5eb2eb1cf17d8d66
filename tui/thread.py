"""The conversation screen: one thread's reply tree (`t` on a message).

The engine builds the tree (`mailops.threads.conversation`, the same as
`mailops thread ID`) in a worker; the screen shows it in a Textual `Tree`, one
line per message (date, sender, subject), a missing parent as a placeholder.
`n`/`p` move between the thread's messages in tree order, Enter opens the
reader, whose own `n`/`p` then walk the thread too.
"""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Static, Tree
from textual.widgets.tree import TreeNode

from mailops.errors import MailopsError
from mailops.store import Store
from mailops.store.tags import mark
from mailops.threads import Conversation, Node, display_name

from .format import date_cell
from .source import Readers
from .widgets import KeyBar


class ThreadTree(Tree[int | None]):
    """The reply tree; each node's data is its message id (None: a placeholder)."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("j", "cursor_down", "Down", show=False),
        Binding("k", "cursor_up", "Up", show=False),
    ]


class ThreadScreen(Screen[None]):
    """One conversation as a tree."""

    AUTO_FOCUS = "ThreadTree"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("q,escape", "back", "Back"),
        Binding("n", "step(1)", "Next"),
        Binding("p", "step(-1)", "Previous"),
    ]
    DEFAULT_CSS = """
    ThreadScreen #thread-title { height: 1; padding: 0 1; background: $panel; }
    """

    class Loaded(Message):
        """The conversation the worker built (None and an error when it failed)."""

        def __init__(self, conversation: Conversation | None, error: str = "") -> None:
            super().__init__()
            self.conversation = conversation
            self.error = error

    def __init__(self, store: Store, readers: Readers, msg_id: int) -> None:
        super().__init__()
        self.store = store
        self.readers = readers
        self.msg_id = msg_id  # the message the screen was opened on
        self.conversation: Conversation | None = None
        self._reading = False

    def compose(self) -> ComposeResult:
        """Title line, tree, keys."""
        yield Static("Loading…", id="thread-title", markup=False)
        tree = ThreadTree("thread", id="thread")
        tree.show_root = False
        tree.auto_expand = False  # Enter opens the message, it does not fold
        yield tree
        yield KeyBar()

    def on_mount(self) -> None:
        """Build the tree in the background."""
        self._load()

    @work(thread=True, exclusive=True, group="thread")
    def _load(self) -> None:
        from mailops.threads import conversation

        try:
            with self.readers.open() as store:
                found = conversation(store, self.msg_id)
        except MailopsError as exc:
            self.post_message(self.Loaded(None, exc.message))
            return
        self.post_message(self.Loaded(found))

    def on_thread_screen_loaded(self, msg: Loaded) -> None:
        """Draw the tree with the cursor on the message it was opened on."""
        title = self.query_one("#thread-title", Static)
        if msg.conversation is None:
            title.update(msg.error)
            return
        self.conversation = msg.conversation
        tree = self.query_one(ThreadTree)
        tree.clear()
        here: TreeNode[int | None] | None = None

        def add(parent: TreeNode[int | None], node: Node) -> None:
            nonlocal here
            item = parent.add(self._label(node), data=None if node.message is None
                              else node.message.id, expand=True, allow_expand=bool(
                                  node.children))
            if node.message is not None and node.message.id == self.msg_id:
                here = item
            for child in node.children:
                add(item, child)

        for root in msg.conversation.roots:
            add(tree.root, root)
        count = len(msg.conversation.messages)
        title.update(f"Conversation: {count} message{'s' if count != 1 else ''}")
        if here is not None:
            self.call_after_refresh(tree.move_cursor, here)

    @staticmethod
    def _label(node: Node) -> Text:
        m = node.message
        if m is None:
            return Text("(a message not in the store)", style="dim italic")
        text = Text()
        text.append(date_cell({"date": m.date, "received_at": m.when}) + "  ", style="dim")
        text.append(display_name(m.sender)[:24] + "  ", style="" if m.seen else "bold")
        text.append(" ".join(m.subject.split()) or "(no subject)")
        return text

    @property
    def thread_tree(self) -> ThreadTree:
        """The reply tree widget."""
        return self.query_one(ThreadTree)

    def message_lines(self) -> list[int]:
        """Tree lines holding a message (not a placeholder), top to bottom."""
        tree = self.thread_tree
        out = []
        for line in range(tree.last_line + 1):
            node = tree.get_node_at_line(line)
            if node is not None and node.data is not None:
                out.append(line)
        return out

    def step(self, direction: int) -> int | None:
        """Move to the next or previous message of the thread; its id (None at an end)."""
        tree = self.thread_tree
        lines = [line for line in self.message_lines()
                 if (line > tree.cursor_line if direction > 0 else line < tree.cursor_line)]
        if not lines:
            return None
        tree.move_cursor_to_line(lines[0] if direction > 0 else lines[-1])
        node = tree.cursor_node
        return None if node is None else node.data

    def action_step(self, direction: int) -> None:
        """`n`/`p` on the tree."""
        if self.step(direction) is None:
            self.notify("No more messages in this thread", severity="warning")

    def _read_step(self, direction: int) -> int | None:
        """The reader's `n`/`p`: the thread's next message, marked read."""
        found = self.step(direction)
        if found is not None:
            mark(self.store, [found], "read")
        return found

    def on_tree_node_selected(self, event: Tree.NodeSelected[int | None]) -> None:
        """Enter (or a click) on a message: read it."""
        from .reader import ReaderScreen

        msg_id = event.node.data
        if msg_id is None:
            return
        mark(self.store, [msg_id], "read")
        self._reading = True
        self.app.push_screen(ReaderScreen(self.store, self.readers, msg_id, self._read_step))

    def on_screen_resume(self) -> None:
        """Back from the reader: redraw (read marks changed)."""
        if self._reading:
            self._reading = False
            node = self.thread_tree.cursor_node
            if node is not None and node.data is not None:
                self.msg_id = node.data
            self._load()

    def action_back(self) -> None:
        """Back to the mailbox."""
        self.app.pop_screen()
