"""What the mailbox's keys do to messages, through the engine (no SQL here).

Each change is one engine call on the app's store (one short write
transaction); the screen then reloads its listing. Delete moves to the Trash
(`mailops.trash`) and keeps an undo record; in the Trash it deletes for good,
after a question.
"""

from __future__ import annotations

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


def ask_tags(screen: MailboxScreen, row: dict[str, Any]) -> None:
    """Prompt for tag changes and apply them."""
    current = " ".join(row["tags"])

    def done(text: str | None) -> None:
        if not text or not text.strip():
            return
        add, remove = parse_tag_changes(text)
        try:
            change = change_tags(screen.store, [int(row["id"])], add, remove)
        except MailopsError as exc:
            screen.notify(exc.message, severity="error")
            return
        words = [f"+{t}" for t, n in change.added.items() if n]
        words += [f"-{t}" for t, n in change.removed.items() if n]
        screen.notify("Tags: " + (" ".join(words) or "no change"))
        screen.changed()

    title = "Tags: +add -remove" + (f"   (now: {current})" if current else "")
    screen.app.push_screen(PromptScreen(title, placeholder="+work -later"), done)


def ask_move(screen: MailboxScreen, row: dict[str, Any]) -> None:
    """Prompt for a folder and move the message there."""

    def done(folder: str | None) -> None:
        if not folder or not folder.strip():
            return
        try:
            change, name, created = move(screen.store, [int(row["id"])], folder)
        except MailopsError as exc:
            screen.notify(exc.message, severity="error")
            return
        screen.notify(f"Moved to {name}" + (" (a new folder)" if created else "")
                      if change.changed else f"Already in {name}")
        screen.changed()

    screen.app.push_screen(PromptScreen("Move to folder", placeholder="Archive"), done)


def delete(screen: MailboxScreen, row: dict[str, Any]) -> None:
    """Trash a message (undo with u); in the Trash, delete it for good."""
    if not screen.scope.is_trash:
        trashed = trash(screen.store, [int(row["id"])])
        if trashed.count:
            screen.undo.append(trashed)
            screen.notify(f"Moved {trashed.count} message to Trash (u: undo)")
        screen.changed()
        return

    def done(yes: bool | None) -> None:
        if yes:
            deleted = screen.store.delete([int(row["id"])])
            screen.notify(f"Deleted {deleted} message for good")
            screen.changed()

    screen.app.push_screen(ConfirmScreen("Delete this message for good? (no undo)"), done)


def undo(screen: MailboxScreen) -> None:
    """Restore the last trashed messages to their folders."""
    if not screen.undo:
        screen.notify("Nothing to undo", severity="warning")
        return
    moved = restore(screen.store, screen.undo.pop())
    screen.notify(f"Restored {moved} message{'s' if moved != 1 else ''}")
    screen.changed()
