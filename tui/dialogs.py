"""Modal dialogs: a one-line prompt, a yes/no question, and the key help."""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Input, Label, Static

_DIALOG_CSS = """
{name} {{ align: center middle; }}
{name} > Vertical {{ width: 70; height: auto; max-height: 80%; border: round $accent;
    background: $surface; padding: 0 1; }}
{name} Input {{ margin: 1 0 0 0; }}
"""


class PromptScreen(ModalScreen[str | None]):
    """Ask for one line of text; dismissed with the text, or None on Escape."""

    DEFAULT_CSS = _DIALOG_CSS.format(name="PromptScreen")
    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, title: str, value: str = "", placeholder: str = "") -> None:
        super().__init__()
        self.title_text = title
        self.value = value
        self.placeholder = placeholder

    def compose(self) -> ComposeResult:
        """A label and the input."""
        with Vertical():
            yield Label(self.title_text)
            yield Input(self.value, placeholder=self.placeholder, id="prompt-input")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        """Enter: done."""
        event.stop()
        self.dismiss(event.value)

    def action_cancel(self) -> None:
        """Escape: nothing."""
        self.dismiss(None)


class ConfirmScreen(ModalScreen[bool]):
    """A yes/no question: y or Enter confirms; n or Escape declines."""

    DEFAULT_CSS = _DIALOG_CSS.format(name="ConfirmScreen")
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("y,enter", "answer(True)", "Yes"),
        Binding("n,escape", "answer(False)", "No"),
    ]

    def __init__(self, question: str) -> None:
        super().__init__()
        self.question = question

    def compose(self) -> ComposeResult:
        """The question and the keys."""
        with Vertical():
            yield Label(self.question)
            yield Label(Text("y: yes   n: no", style="dim"))

    def action_answer(self, yes: bool) -> None:
        """Close with the answer."""
        self.dismiss(yes)


class HelpScreen(ModalScreen[None]):
    """Every key of the screen it was opened from, with what it does."""

    DEFAULT_CSS = """
    HelpScreen { align: center middle; }
    HelpScreen > VerticalScroll { width: 64; height: auto; max-height: 90%;
        border: round $accent; background: $surface; padding: 0 1; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q,question_mark", "close", "Close"),
    ]

    def __init__(self, title: str, keys: list[tuple[str, str]]) -> None:
        super().__init__()
        self.title_text = title
        self.keys = keys

    def compose(self) -> ComposeResult:
        """The table of keys."""
        text = Text()
        text.append(f"{self.title_text}\n\n", style="bold")
        for key, description in self.keys:
            text.append(f"{key:>16}  ", style="bold")
            text.append(description + "\n")
        text.append("\nEscape, q or ? closes this.", style="dim")
        with VerticalScroll():
            yield Static(text)

    def action_close(self) -> None:
        """Back to where help was asked for."""
        self.dismiss(None)
