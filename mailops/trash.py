"""Delete with undo: messages go to the Trash folder and can be put back.

The interactive mailbox deletes by moving to TRASH (`mailops.store.tags.move`),
remembering each message's folder so `restore` can undo it; deleting what is
already in the Trash removes it for good (`Store.delete`), which has no undo.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from mailops.errors import NotFoundError
from mailops.store import Store
from mailops.store.tags import move

TRASH = "Trash"
"""The folder deleted messages wait in."""


@dataclass
class Trashed:
    """What one `trash` call moved: the folders the messages came from."""

    folders: dict[str, list[int]] = field(default_factory=dict)

    @property
    def count(self) -> int:
        """How many messages were moved."""
        return sum(len(ids) for ids in self.folders.values())


def in_trash(folder: str) -> bool:
    """Whether a folder name is the Trash (folder names compare case-insensitively)."""
    return folder.lower() == TRASH.lower()


def trash(store: Store, ids: Iterable[int]) -> Trashed:
    """Move messages to the Trash (those already there, or gone, are skipped)."""
    out = Trashed()
    for msg_id in ids:
        try:
            folder = str(store.get(msg_id)["folder"])
        except NotFoundError:
            continue
        if not in_trash(folder):
            out.folders.setdefault(folder, []).append(msg_id)
    moving = [i for ids_ in out.folders.values() for i in ids_]
    if moving:
        move(store, moving, TRASH)
    return out


def restore(store: Store, trashed: Trashed) -> int:
    """Undo a `trash`: each message back to its folder; returns how many moved."""
    moved = 0
    for folder, ids in trashed.folders.items():
        moved += move(store, ids, folder)[0].changed
    return moved
