"""A virtual message list: one line per message, drawn with Textual's Line API.

The widget holds no row widgets and no rows of its own: `render_line` asks the
`MessageSource` for the row at that position (a cached page, or one keyset
query for the next page), so a million messages cost what a screenful costs.
The cursor is a position; moving it posts `Highlighted`, Enter posts `Opened`.
"""

from __future__ import annotations

from typing import Any, ClassVar

from rich.cells import cell_len, set_cell_size
from rich.segment import Segment
from rich.style import Style
from textual import events
from textual.binding import Binding, BindingType
from textual.geometry import Size
from textual.message import Message
from textual.scroll_view import ScrollView
from textual.strip import Strip

from .format import date_cell, marks_cell, sender_cell, size_cell, subject_cell
from .selection import Selection
from .source import MessageSource

_DATE_W = 16
_SIZE_W = 6


class MessageList(ScrollView, can_focus=True):
    """The message list of the mailbox screen."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("j,down", "cursor(1)", "Down", show=False),
        Binding("k,up", "cursor(-1)", "Up", show=False),
        Binding("pagedown,space", "page(1)", "Page down", show=False),
        Binding("pageup", "page(-1)", "Page up", show=False),
        Binding("home,g", "first", "First", show=False),
        Binding("end,G", "last", "Last", show=False),
        Binding("enter", "open", "Open"),
    ]
    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "message-list--cursor", "message-list--unread", "message-list--muted",
        "message-list--selected",
    }
    DEFAULT_CSS = """
    MessageList { overflow-x: hidden; background: $surface; }
    MessageList > .message-list--cursor { background: $boost; }
    MessageList:focus > .message-list--cursor { background: $accent 60%; }
    MessageList > .message-list--unread { text-style: bold; }
    MessageList > .message-list--muted { color: $text-muted; }
    MessageList > .message-list--selected { background: $secondary 30%; }
    """

    class Highlighted(Message):
        """The cursor is on a new row (None: the list is empty)."""

        def __init__(self, row: dict[str, Any] | None) -> None:
            super().__init__()
            self.row = row

    class Opened(Message):
        """Enter (or a click on the highlighted row) on a message."""

        def __init__(self, row: dict[str, Any]) -> None:
            super().__init__()
            self.row = row

    def __init__(self, *, name: str | None = None, id: str | None = None,
                 classes: str | None = None) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self.source: MessageSource | None = None
        self.cursor = 0
        self.rendered_rows = 0  # message rows drawn so far (the benchmark waits on it)
        self.painted: MessageSource | None = None  # the source last drawn
        self._highlighted: int | None = None
        self.selection = Selection()  # the mark column (`x`, `*`)

    # -- data ----------------------------------------------------------------------

    @property
    def total(self) -> int:
        """Rows in the listing (rows known so far while the count is pending)."""
        if self.source is None:
            return 0
        if self.source.total is not None:
            return self.source.total
        first = self.source.peek(0)
        return 0 if first is None else self.source.page_size * 2

    def set_source(self, source: MessageSource, cursor: int = 0,
                   scroll: int | None = None) -> None:
        """Show a (new or reloaded) listing with the cursor at `cursor`."""
        self.source = source
        self._highlighted = None
        self._resize()
        top = self.scroll_offset.y if scroll is None else scroll
        self.scroll_to(y=max(0, top), animate=False, immediate=True)
        self.move_to(cursor)
        self.refresh()

    def update_total(self) -> None:
        """The listing's count arrived: size the scrollable area to it."""
        self._resize()
        if self.cursor >= self.total:  # the listing shrank below the cursor
            self.move_to(self.cursor)
        self.refresh()

    def _resize(self) -> None:
        self.virtual_size = Size(self.size.width, self.total)

    def on_resize(self, event: events.Resize) -> None:
        """Keep the virtual width equal to the widget's (no horizontal scrolling)."""
        self._resize()

    @property
    def current(self) -> dict[str, Any] | None:
        """The row under the cursor."""
        return None if self.source is None else self.source.row(self.cursor)

    # -- cursor --------------------------------------------------------------------

    def move_to(self, index: int) -> None:
        """Put the cursor on row `index` (clamped) and scroll it into view."""
        total = self.total
        self.cursor = max(0, min(index, total - 1)) if total else 0
        height = max(1, self.scrollable_content_region.height)
        top = int(self.scroll_offset.y)
        if self.cursor < top:
            self.scroll_to(y=self.cursor, animate=False, immediate=True)
        elif self.cursor >= top + height:
            self.scroll_to(y=self.cursor - height + 1, animate=False, immediate=True)
        self.refresh()
        row = self.current
        key = None if row is None else int(row["id"])
        if key != self._highlighted:
            self._highlighted = key
            self.post_message(self.Highlighted(row))

    def action_cursor(self, step: int) -> None:
        """Move the cursor by `step` rows."""
        self.move_to(self.cursor + step)

    def action_page(self, direction: int) -> None:
        """Move a screenful, scrolling the list with the cursor."""
        height = max(1, self.scrollable_content_region.height)
        top = int(self.scroll_offset.y) + direction * height
        self.scroll_to(y=max(0, min(top, self.total - height)), animate=False,
                       immediate=True)
        self.move_to(self.cursor + direction * height)

    def action_first(self) -> None:
        """The first (newest) message."""
        self.move_to(0)

    def action_last(self) -> None:
        """The last (oldest) message."""
        self.move_to(self.total - 1)

    def action_open(self) -> None:
        """Open the highlighted message."""
        row = self.current
        if row is not None:
            self.post_message(self.Opened(row))

    def on_click(self, event: events.Click) -> None:
        """A click highlights a row; a second click (or a double click) opens it."""
        index = int(self.scroll_offset.y) + event.y
        if index >= self.total:
            return
        if index == self.cursor or event.chain > 1:
            self.move_to(index)
            self.action_open()
        else:
            self.move_to(index)

    # -- drawing -------------------------------------------------------------------

    def render_line(self, y: int) -> Strip:
        """One line: the row at scroll position + y."""
        width = self.scrollable_content_region.width
        base = self.rich_style
        index = int(self.scroll_offset.y) + y
        if self.source is None:
            return Strip.blank(width, base)
        self.painted = self.source
        if index >= self.total:
            if index == 0 and self.source.total == 0:
                muted = self.get_component_rich_style("message-list--muted")
                return Strip([Segment(set_cell_size(" No messages", width), base + muted)])
            return Strip.blank(width, base)
        row = self.source.row(index)
        if row is None:
            return Strip.blank(width, base)
        self.rendered_rows += 1
        style = base
        if (row.get("thread_unread", 0) if "thread_count" in row else not row["read"]):
            style += self.get_component_rich_style("message-list--unread")
        selected = self.selection.contains(int(row["id"]))
        if selected:
            style += self.get_component_rich_style("message-list--selected")
        if index == self.cursor:
            style += self.get_component_rich_style("message-list--cursor")
        return Strip(self._cells(row, width, style, selected), width)

    def _cells(self, row: dict[str, Any], width: int, style: Style,
               selected: bool = False) -> list[Segment]:
        muted = style + self.get_component_rich_style("message-list--muted")
        from_w = max(8, min(24, width // 5))
        subject_w = max(0, width - (1 + 3 + 1 + _DATE_W + 2 + from_w + 2 + 1 + _SIZE_W + 1))
        tags = " ".join(f"[{t}]" for t in row["tags"])
        subject = subject_cell(row)
        subject_len = min(cell_len(subject), subject_w)
        segments = [
            Segment(("*" if selected else " ") + marks_cell(row) + " ", style),
            Segment(date_cell(row) + "  ", muted),
            Segment(set_cell_size(sender_cell(row), from_w) + "  ", style),
            Segment(set_cell_size(subject, subject_len), style),
        ]
        rest = subject_w - subject_len
        if tags and rest > 1:
            segments.append(Segment(set_cell_size(" " + tags, rest), muted))
        elif rest > 0:
            segments.append(Segment(" " * rest, style))
        segments.append(Segment(" " + size_cell(int(row["size"])).rjust(_SIZE_W) + " ", muted))
        return list(Segment.adjust_line_length(segments, width, style))
