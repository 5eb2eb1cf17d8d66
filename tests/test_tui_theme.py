"""Themes: a light one from the config or Ctrl+T; an unknown one is a one-line error.
(NO_COLOR is checked in a real terminal in test_tui_tmux.py.)"""

from __future__ import annotations

from pathlib import Path

from conftest import Cli
from mailops.tui.app import MailopsApp
from test_tui_app import SIZE, fill, settle, store_path, sync

from mailops.store import Store


@sync
async def test_light_theme_from_config_and_ctrl_t(home: Path) -> None:
    path = store_path(home)
    fill(path, 3)
    with Store(path) as store:
        app = MailopsApp(store, theme="textual-light")
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot)
            assert app.theme == "textual-light" and not app.current_theme.dark
            await pilot.press("ctrl+t")
            assert app.theme == "textual-dark" and app.current_theme.dark
            await pilot.press("ctrl+t")
            assert app.theme == "textual-light"


def test_an_unknown_theme_is_a_one_line_error(cli: Cli) -> None:
    res = cli("tui", env={"MAILOPS_TUI_THEME": "no-such-theme"})
    assert res.code == 2 and "unknown theme 'no-such-theme'" in res.err
    assert "Traceback" not in res.err
