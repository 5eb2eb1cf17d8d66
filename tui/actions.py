"""What the mailbox's keys do to messages, through the engine (no SQL here).

Each change is one engine call on the app's store (one short write
transaction); the screen then reloads its listing. Delete moves to the Trash
(`mailops.trash`) and keeps an undo record; in the Trash it deletes for good,
after a question. A `Target` is what a key applies to: the selection when
there is one (ids streamed from the store for "all matching"), else the
highlighted message.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from mailops.errors import MailopsError
from mailops.store import Store
from mailops.store.tags import change_tags, move
from mailops.store.tags import mark as mark_messages
from mailops.trash import restore, trash

from .dialogs import ConfirmScreen, PromptScreen

if TYPE_CHECKING:
    from .mailbox import MailboxScreen


def mark(store: Store, row: dict[str, Any], what: str) -> None:
    """Set a flag (read, unread, flagged, unflagged) on one message."""
    mark_messages(store, [int(row["id"])], what)


def mark_read(store: Store, row: dict[str, Any]) -> None:
    """Opening a message reads it."""
    if not row["read"]:
        mark(store, row, "read")


def parse_tag_changes(text: str) -> tuple[list[str], list[str]]:
    """`+a -b c` -> (["a", "c"], ["b"]): a bare word adds, like `+word`."""
    add: list[str] = []
    remove: list[str] = []
    for word in text.split():
        if word.startswith("-"):
            remove.append(word[1:])
        else:
            add.append(word.removeprefix("+"))
    return add, remove


@dataclass
class Target:
    """The messages an action applies to."""

    ids: Callable[[], Iterable[int]]  # called when the action runs
    count: int
    bulk: bool  # the selection (cleared once moved or deleted), not the cursor's row

    @property
    def label(self) -> str:
        """"this message" or "12 selected messages"."""
        return f"{self.count:,} selected message{'s' if self.count != 1 else ''}" \
            if self.bulk else "this message"


def _plural(n: int) -> str:
    return f"{n:,} message{'s' if n != 1 else ''}"


def ask_tags(screen: MailboxScreen, target: Target, current: str = "") -> None:
    """Prompt for tag changes and apply them."""

    def done(text: str | None) -> None:
        if not text or not text.strip():
            return
        add, remove = parse_tag_changes(text)
        try:
            change = change_tags(screen.store, target.ids(), add, remove)
        except MailopsError as exc:
            screen.notify(exc.message, severity="error")
            return
        words = [f"+{t}" for t, n in change.added.items() if n]
        words += [f"-{t}" for t, n in change.removed.items() if n]
        screen.notify("Tags: " + (" ".join(words) or "no change")
                      + (f" on {target.label}" if target.bulk else ""))
        screen.changed()

    title = f"Tags for {target.label}: +add -remove" + (
        f"   (now: {current})" if current and not target.bulk else "")
    screen.app.push_screen(PromptScreen(title, placeholder="+work -later"), done)


def ask_move(screen: MailboxScreen, target: Target) -> None:
    """Prompt for a folder and move the messages there."""

    def done(folder: str | None) -> None:
        if not folder or not folder.strip():
            return
        try:
            change, name, created = move(screen.store, target.ids(), folder)
        except MailopsError as exc:
            screen.notify(exc.message, severity="error")
            return
        screen.notify(f"Moved {_plural(change.changed)} to {name}"
                      + (" (a new folder)" if created else "")
                      if change.changed else f"Already in {name}")
        screen.changed(moved=target.bulk)

    screen.app.push_screen(PromptScreen(f"Move {target.label} to folder",
                                        placeholder="Archive"), done)


def mark_target(screen: MailboxScreen, target: Target, what: str) -> None:
    """Set a flag on the target's messages."""
    try:
        change = mark_messages(screen.store, target.ids(), what)
    except MailopsError as exc:
        screen.notify(exc.message, severity="error")
        return
    if target.bulk:
        screen.notify(f"Marked {_plural(change.changed)} {what}")
    screen.changed()


def delete(screen: MailboxScreen, target: Target) -> None:
    """Trash messages (undo with u); in the Trash, delete them for good."""
    if not screen.scope.is_trash:
        trashed = trash(screen.store, target.ids())
        if trashed.count:
            screen.undo.append(trashed)
            screen.notify(f"Moved {_plural(trashed.count)} to Trash (u: undo)")
        screen.changed(moved=target.bulk)
        return

    def done(yes: bool | None) -> None:
        if yes:
            deleted = screen.store.delete(list(target.ids()))
            screen.notify(f"Deleted {_plural(deleted)} for good")
            screen.changed(moved=target.bulk)

    screen.app.push_screen(ConfirmScreen(f"Delete {target.label} for good? (no undo)"), done)


def undo(screen: MailboxScreen) -> None:
    """Restore the last trashed messages to their folders."""
    if not screen.undo:
        screen.notify("Nothing to undo", severity="warning")
        return
    moved = restore(screen.store, screen.undo.pop())
    screen.notify(f"Restored {_plural(moved)}")
    screen.changed()
