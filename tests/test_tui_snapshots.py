"""Snapshots of the TUI's screens at 120x40 on a fixed store (pytest-textual-snapshot).

Update after an intended change with `uv run pytest tests/test_tui_snapshots.py
--snapshot-update -n 0` and review the SVGs under tests/__snapshots__/.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from mailops.tui.app import MailopsApp
from test_tui_app import SIZE, fill, focus_search, settle, store_path
from textual.pilot import Pilot

from mailops.store import Store


@pytest.fixture
def app(home: Path) -> Iterator[MailopsApp]:
    path = store_path(home)
    fill(path, 30)
    with Store(path) as store:
        # No polling: nothing changes the store, and a snapshot must not race a timer.
        yield MailopsApp(store, poll_interval=3600)


def test_mailbox_screen(app: MailopsApp, snap_compare: Callable[..., Any]) -> None:
    assert snap_compare(app, terminal_size=SIZE, run_before=settle)


def test_reader_screen(app: MailopsApp, snap_compare: Callable[..., Any]) -> None:
    async def open_second(pilot: Pilot[None]) -> None:
        await settle(pilot)
        await pilot.press("j", "enter")
        await settle(pilot)

    assert snap_compare(app, terminal_size=SIZE, run_before=open_second)


def test_search_error_and_help(app: MailopsApp, snap_compare: Callable[..., Any]) -> None:
    async def bad_query_then_help(pilot: Pilot[None]) -> None:
        await settle(pilot)
        await focus_search(pilot)
        await pilot.press(*"subject:(", "enter")
        await settle(pilot)
        await pilot.press("escape", "question_mark")
        await settle(pilot)

    assert snap_compare(app, terminal_size=SIZE, run_before=bad_query_then_help)


def test_thread_screen_and_conversations(home: Path,
                                         snap_compare: Callable[..., Any]) -> None:
    from test_tui_threads import fill as fill_threads

    with fill_threads(home) as store:
        app = MailopsApp(store, poll_interval=3600)

        async def open_thread(pilot: Pilot[None]) -> None:
            await settle(pilot)
            await pilot.press("T", "j", "j")  # conversations: the Plans thread
            await settle(pilot)
            await pilot.press("t")
            for _ in range(100):
                await settle(pilot)
                if str(app.screen.query_one("#thread-title").render()).startswith("Conv"):
                    break
            await pilot.pause(0.1)  # the tree's cursor moves after a refresh

        assert snap_compare(app, terminal_size=SIZE, run_before=open_thread)
