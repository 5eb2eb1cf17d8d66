"""Shared CLI state: the effective config and store access, built lazily per run."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import typer

from mailops.config import Config, load_config

if TYPE_CHECKING:
    from mailops.store import Store


@dataclass
class State:
    """What the root callback learns from global flags."""

    home: str | None = None
    _config: Config | None = field(default=None, repr=False)

    @property
    def config(self) -> Config:
        """The effective config (loaded on first use)."""
        if self._config is None:
            self._config = load_config(self.home)
        return self._config


def query_text(words: list[str] | None) -> str | None:
    """A query given as several arguments (`mailops search budget review`, as notmuch
    and mu take it), joined with spaces: the same as one quoted argument."""
    return " ".join(words) if words else None


def state(ctx: typer.Context) -> State:
    """The State of this invocation (the root callback stores it on the context)."""
    root = ctx.find_root()
    if not isinstance(root.obj, State):
        root.obj = State()
    return root.obj


def ask_secret(prompt: str) -> str | None:
    """Ask a person for a secret (an encrypted store's passphrase) without echo;
    None when stdin is not a terminal or they press Ctrl-D."""
    import sys

    if not sys.stdin.isatty():
        return None
    import getpass

    try:
        return getpass.getpass(prompt)
    except EOFError:
        return None


def open_store(ctx: typer.Context, *, readonly: bool = False) -> Store:
    """Open the store under the effective data dir.

    A reader on a fresh install gets a new empty store rather than an error. Readers
    switch to read-write when messages are stored but not yet parsed (the daemon
    was killed, say) so listings are complete.
    """
    from mailops.errors import StoreOutdated
    from mailops.store import Store

    config = state(ctx).config
    path = config.paths.store_file
    if readonly and path.exists():
        try:
            store = Store(path, readonly=True)
        except StoreOutdated:  # written by an older mailops: migrate, then read
            store = Store(path, tagging=config.tagging)
            _record_settings(store, config)
        if store.pending_count():
            store.close()
            store = Store(path, tagging=config.tagging)  # indexing applies the rules
            _record_settings(store, config)
            while store.index_pending(1000) > 0:
                continue
        return store
    store = Store(path, tagging=config.tagging)
    _record_settings(store, config)
    return store


def _record_settings(store: Store, config: Config) -> None:
    """Settings indexing reads from the store itself (the daemon's indexer has no
    config of its own): the thread subject-fallback window."""
    from mailops.threads import sync_settings

    sync_settings(store, config.get_int("threads.subject_days"))
