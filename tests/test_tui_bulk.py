"""Multi-selection in the TUI: `x` marks rows, `*` selects all matching (by query),
and tag, mark, move, delete and undo apply to the selection."""

from __future__ import annotations

import json
from pathlib import Path

from mailops.tui.app import MailopsApp
from mailops.tui.dialogs import PromptScreen
from mailops.tui.widgets import Sidebar
from test_tui_app import SIZE, fill, focus_search, listed, mailbox, settle, status, store_path, sync

from mailops.config import load_config
from mailops.store import Store


@sync
async def test_marked_rows_take_tags_flags_and_a_move(home: Path) -> None:
    path = store_path(home)
    fill(path, 30)
    with Store(path) as store:
        app = MailopsApp(store)
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot)
            await pilot.press("x", "j", "x")  # 30 and 28 (x moves down a row)
            assert status(app) == "INBOX: 30 messages; 2 selected"
            await pilot.press("plus")
            assert isinstance(app.screen, PromptScreen)
            await pilot.press(*"bulk", "enter")
            await settle(pilot)
            tagged = [i for i in range(1, 31) if "bulk" in store.get(i)["tags"]]
            assert tagged == [28, 30]
            await pilot.press("F")  # the highlighted row (27) is unflagged: flag them
            await settle(pilot)
            assert [i for i in range(1, 31) if store.get(i)["flagged"]] == [28, 30]
            await pilot.press("m", *"Archive", "enter")
            await settle(pilot)
            assert store.get(28)["folder"] == store.get(30)["folder"] == "Archive"
            assert status(app) == "INBOX: 28 messages"  # the moved selection is gone
            assert listed(app)[:2] == [29, 27]


@sync
async def test_select_all_matching_then_delete_and_undo(home: Path) -> None:
    path = store_path(home)
    fill(path, 30)
    with Store(path) as store:
        app = MailopsApp(store)
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot)
            await focus_search(pilot)
            await pilot.press(*"subject:invoice", "enter")  # every 3rd: 10 messages
            await settle(pilot)
            await pilot.press("asterisk")
            assert status(app).endswith("10 selected (all matching)")
            assert mailbox(app).messages.selection.ids == set()  # no ids loaded
            await pilot.press("x")  # leave out the highlighted one (30)
            assert status(app).endswith("9 selected (all matching)")
            await pilot.press("d")
            await settle(pilot)
            trashed = [i for i in range(1, 31) if store.get(i)["folder"] == "Trash"]
            assert trashed == [3, 6, 9, 12, 15, 18, 21, 24, 27]
            assert listed(app) == [30]
            await pilot.press("u")
            await settle(pilot)
            assert all(store.get(i)["folder"] == "INBOX" for i in range(1, 31))
            await pilot.press("asterisk", "escape")  # Escape drops the selection first
            assert not mailbox(app).messages.selection
            assert status(app) == "INBOX: 10 messages matching subject:invoice"


@sync
async def test_saved_searches_from_config_and_ctrl_s(home: Path) -> None:
    from mailops.tui.saved import FILE_NAME

    path = store_path(home)
    fill(path, 30)
    (home / "config.toml").write_text('[tui.saved_searches]\nbig = "has:attachment"\n')
    config = load_config(str(home))
    assert config.saved_searches == {"big": "has:attachment"}
    saved_file = config.paths.data_dir / FILE_NAME
    with Store(path) as store:
        app = MailopsApp(store, saved_searches=config.saved_searches, saved_file=saved_file)
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot)
            sidebar = mailbox(app).query_one(Sidebar)
            mailbox(app).select_scope(sidebar.scopes["saved:big"])
            await settle(pilot)
            assert listed(app) == [30, 25, 20, 15, 10, 5]  # every 5th has an attachment
            await focus_search(pilot)
            await pilot.press(*"subject:invoice", "enter")
            await settle(pilot)
            await pilot.press("ctrl+s")
            assert isinstance(app.screen, PromptScreen)
            await pilot.press(*"pdf invoices", "enter")
            await settle(pilot)
            assert "saved:pdf invoices" in sidebar.scopes
    # Kept for the next start, within the scope it was saved in.
    assert json.loads(saved_file.read_text()) == {
        "pdf invoices": "has:attachment (subject:invoice)"}
    with Store(path) as store:
        app = MailopsApp(store, saved_searches=config.saved_searches, saved_file=saved_file)
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot)
            sidebar = mailbox(app).query_one(Sidebar)
            mailbox(app).select_scope(sidebar.scopes["saved:pdf invoices"])
            await settle(pilot)
            assert listed(app) == [30, 15]
