"""The TUI driven by Textual's Pilot: mailbox, navigation, search, reader, changes, live mail."""

from __future__ import annotations

import asyncio
import functools
import smtplib
from collections.abc import Callable, Coroutine, Iterator
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from conftest import start_server
from mailops.tui.app import MailopsApp
from mailops.tui.dialogs import HelpScreen, PromptScreen
from mailops.tui.mailbox import PREVIEW_DELAY, MailboxScreen
from mailops.tui.message_list import MessageList
from mailops.tui.reader import ReaderScreen
from mailops.tui.source import PAGE_SIZE
from mailops.tui.widgets import QueryBar
from textual.command import CommandList, CommandPalette
from textual.pilot import Pilot

from mailops.config import load_config
from mailops.store import Incoming, Store

SIZE = (120, 40)


def sync(test: Callable[..., Coroutine[Any, Any, None]]) -> Callable[..., None]:
    """Run an async test on a fresh event loop (no asyncio plugin needed)."""

    @functools.wraps(test)
    def run(*args: Any, **kwargs: Any) -> None:
        asyncio.run(test(*args, **kwargs))

    return run


def message(i: int, *, subject: str | None = None, attach: bool = False) -> bytes:
    """A deterministic message: dated June 2026 day by day, newer for bigger i."""
    m = EmailMessage()
    m["From"] = f"Sender {i} <sender{i}@example.test>"
    m["To"] = "dev@example.test"
    m["Subject"] = subject or f"Message {i} about {'invoice' if i % 3 == 0 else 'deploy'}"
    m["Date"] = f"Mon, {1 + i // 24:02d} Jun 2026 {i % 24:02d}:00:00 +0000"
    m["Message-ID"] = f"<m{i}@example.test>"
    m.set_content(f"Hello, this is body {i}.\nSecond line.\n")
    if attach:
        m.add_attachment(b"%PDF-1.4 test\n", maintype="application", subtype="pdf",
                         filename=f"report-{i}.pdf")
    return m.as_bytes()


def fill(path: Path, count: int, start: int = 1) -> None:
    """Store `count` messages (every 5th with an attachment), indexed."""
    with Store(path) as store:
        store.add_raw([Incoming(raw=message(i, attach=i % 5 == 0), received_at=1780000000.0 + i)
                       for i in range(start, start + count)])
        while store.index_pending():
            continue


def store_path(home: Path) -> Path:
    """Where `mailops --home HOME` keeps its store."""
    return load_config(str(home)).paths.store_file


@pytest.fixture
def store(home: Path) -> Iterator[Store]:
    path = store_path(home)
    fill(path, 30)
    with Store(path) as opened:
        yield opened


async def settle(pilot: Pilot[None]) -> None:
    """Wait until workers (and what their messages started) are done."""
    app = pilot.app
    assert isinstance(app, MailopsApp)
    for _ in range(200):
        await pilot.pause(PREVIEW_DELAY)  # the preview's timer
        await app.workers.wait_for_complete()
        await pilot.pause()
        if not any(w.is_running for w in app.workers) and not app.mailbox.preview_pending:
            return


async def focus_search(pilot: Pilot[None]) -> None:
    """`/`, then wait until the bar has the focus (it moves on the next loop turn;
    keys typed before would go to the list)."""
    await pilot.press("slash")
    for _ in range(100):
        if isinstance(pilot.app.focused, QueryBar):
            return
        await pilot.pause(0.01)
    raise AssertionError("the search bar never got the focus")


def mailbox(app: MailopsApp) -> MailboxScreen:
    return app.mailbox


def listed(app: MailopsApp) -> list[int]:
    """The ids of the rows the list shows, top to bottom (as far as it is tall)."""
    lst = mailbox(app).messages
    top = int(lst.scroll_offset.y)
    rows = [lst.source.row(i) if lst.source else None
            for i in range(top, min(lst.total, top + lst.size.height))]
    return [int(r["id"]) for r in rows if r is not None]


def status(app: MailopsApp) -> str:
    return str(mailbox(app).query_one("#status").render())


@sync
async def test_mailbox_opens_newest_first_with_counts(store: Store) -> None:
    app = MailopsApp(store)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert listed(app)[:3] == [30, 29, 28]
        assert status(app) == "INBOX: 30 messages"
        sidebar = mailbox(app).query_one("Sidebar")
        assert {"all", "folder:INBOX"} <= set(sidebar.scopes)  # type: ignore[attr-defined]
        assert isinstance(app.focused, MessageList)
        assert mailbox(app).messages.current["id"] == 30  # type: ignore[index]


@sync
async def test_navigation_pages_through_a_listing_larger_than_the_cache(home: Path) -> None:
    path = store_path(home)
    fill(path, 3 * PAGE_SIZE + 20)
    with Store(path) as store:
        app = MailopsApp(store)
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot)
            lst = mailbox(app).messages
            newest = 3 * PAGE_SIZE + 20
            await pilot.press("j", "j", "down", "k")
            assert lst.current["id"] == newest - 2  # type: ignore[index]
            await pilot.press("pagedown")
            height = lst.scrollable_content_region.height
            assert lst.cursor == 2 + height
            assert lst.current["id"] == newest - 2 - height  # type: ignore[index]
            await pilot.press("end")
            assert lst.current["id"] == 1  # type: ignore[index]
            assert listed(app)[-1] == 1
            await pilot.press("pageup", "pageup")
            assert lst.current["id"] == 1 + 2 * height  # type: ignore[index]
            await pilot.press("home")
            assert lst.current["id"] == newest  # type: ignore[index]
            await pilot.press("j", "o")  # oldest first: the cursor stays on its message
            await settle(pilot)
            assert lst.current["id"] == newest - 1  # type: ignore[index]
            assert lst.cursor == newest - 2
            await pilot.press("home")
            assert lst.current["id"] == 1  # type: ignore[index]
            assert status(app).endswith(", oldest first")
            # Virtual: only pages near what was shown are held, never the listing.
            assert lst.source is not None
            assert len(lst.source.describe()["pages"]) < 4
            assert lst.source.total == newest


@sync
async def test_search_live_and_enter(store: Store) -> None:
    app = MailopsApp(store)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await focus_search(pilot)
        await pilot.press(*"subject:invoice")
        await pilot.pause(0.3)  # the debounce, then the worker
        await settle(pilot)
        ids = listed(app)
        assert ids == [i for i in range(30, 0, -1) if i % 3 == 0]
        assert status(app) == "INBOX: 10 messages matching subject:invoice"
        await pilot.press("enter")
        assert isinstance(app.focused, MessageList)
        await pilot.press("escape")  # on the list: clears the search
        await settle(pilot)
        assert listed(app)[:2] == [30, 29] and mailbox(app).messages.total == 30
        await focus_search(pilot)  # history: Up brings back the query run with Enter
        await pilot.press("up")
        bar = mailbox(app).query_one(QueryBar)
        assert bar.value == "subject:invoice"
        await pilot.press("down")
        assert bar.value == ""


@sync
async def test_search_syntax_error_is_shown_inline(store: Store,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    # Keys typed slower than the debounce (a loaded CI machine) would search for "from"
    # on the way; Enter runs the query at once, so the last good listing is the first.
    from mailops.tui import mailbox as mailbox_module

    monkeypatch.setattr(mailbox_module, "DEBOUNCE", 30.0)
    app = MailopsApp(store)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await focus_search(pilot)
        await pilot.press(*"from:(", "enter")
        await pilot.pause(0.3)
        await settle(pilot)
        error = mailbox(app).query_one("#query-error")
        assert error.has_class("shown")
        assert str(error.render()) == "     ^ expected a value right after from:"
        assert "position 6" in status(app)
        assert mailbox(app).messages.total == 30  # the last good listing stays
        await pilot.press("backspace", *"alice", "enter")  # the bar keeps the focus
        await pilot.pause(0.3)
        await settle(pilot)
        assert not error.has_class("shown")
        assert listed(app) == []


@sync
async def test_open_reader_headers_raw_and_back(store: Store) -> None:
    app = MailopsApp(store)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert not store.get(30)["read"]
        await pilot.press("enter")
        await settle(pilot)
        reader = app.screen
        assert isinstance(reader, ReaderScreen)
        text = str(reader.query_one("#reader-text").render())
        assert "Subject: Message 30 about invoice" in text
        assert "Hello, this is body 30." in text
        assert "Attachment: report-30.pdf (application/pdf" in text
        assert store.get(30)["read"]
        await pilot.press("h")
        assert "Message-ID: <m30@example.test>" in str(reader.query_one("#reader-text").render())
        await pilot.press("v")
        assert "Content-Type: multipart/mixed" in str(reader.query_one("#reader-text").render())
        await pilot.press("n")
        await settle(pilot)
        assert reader.msg_id == 29
        await pilot.press("q")
        await settle(pilot)
        assert isinstance(app.screen, MailboxScreen)
        assert mailbox(app).messages.current["id"] == 29  # type: ignore[index]
        assert mailbox(app).messages.source.row(0)["read"]  # type: ignore[union-attr,index]


@sync
async def test_save_attachments_from_the_reader(store: Store, tmp_path: Path) -> None:
    app = MailopsApp(store)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("enter")
        await settle(pilot)
        await pilot.press("s")
        assert isinstance(app.screen, PromptScreen)
        prompt = app.screen.query_one("Input")
        prompt.value = str(tmp_path / "out")  # type: ignore[attr-defined]
        await pilot.press("enter")
        await settle(pilot)
    assert (tmp_path / "out" / "report-30.pdf").read_bytes() == b"%PDF-1.4 test\n"


@sync
async def test_open_attachment_with_the_configured_opener(
        store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`o` hands the attachment, written to a private folder, to `tui.opener` (a
    script here standing in for xdg-open), detached from the terminal."""
    record = tmp_path / "opened"
    script = tmp_path / "opener"
    script.write_text(f"#!/bin/sh\ncp \"$1\" {record}.tmp && mv {record}.tmp {record}\n")
    script.chmod(0o755)
    monkeypatch.setenv("MAILOPS_TUI_OPENER", str(script))
    app = MailopsApp(store)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("enter")
        await settle(pilot)
        await pilot.press("o")
        for _ in range(100):  # the opener runs on its own; wait for its copy
            if record.exists():
                break
            await asyncio.sleep(0.05)
    assert record.read_bytes() == b"%PDF-1.4 test\n"

    monkeypatch.setenv("MAILOPS_TUI_OPENER", str(tmp_path / "missing-viewer"))
    app = MailopsApp(store)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("enter")
        await settle(pilot)
        await pilot.press("o")
        await pilot.pause()
        notes = [str(n.message) for n in app._notifications]
        assert any("missing-viewer not found" in n for n in notes), notes


@sync
async def test_tag_flag_and_read_toggles(store: Store) -> None:
    app = MailopsApp(store)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("plus")
        assert isinstance(app.screen, PromptScreen)
        await pilot.press(*"+urgent later", "enter")
        await settle(pilot)
        assert store.get(30)["tags"] == ["later", "urgent"]
        await pilot.press("plus", *"-later", "enter", "F", "N")
        await settle(pilot)
        row = store.get(30)
        assert (row["tags"], row["flagged"], row["read"]) == (["urgent"], True, True)
        assert mailbox(app).messages.current["tags"] == ["urgent"]  # type: ignore[index]


@sync
async def test_delete_then_undo(store: Store) -> None:
    app = MailopsApp(store)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("j", "d")
        await settle(pilot)
        assert store.get(29)["folder"] == "Trash"
        assert 29 not in listed(app)
        assert mailbox(app).messages.current["id"] == 28  # the next one  # type: ignore[index]
        assert status(app) == "INBOX: 29 messages"
        await pilot.press("u")
        await settle(pilot)
        assert store.get(29)["folder"] == "INBOX"
        assert listed(app)[:3] == [30, 29, 28]


@sync
async def test_delete_in_trash_is_for_good_after_a_question(store: Store) -> None:
    app = MailopsApp(store)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("d")
        await settle(pilot)
        screen = mailbox(app)
        screen.select_scope(screen.query_one("Sidebar").scopes["folder:Trash"])  # type: ignore[attr-defined]
        await settle(pilot)
        assert listed(app) == [30]
        await pilot.press("d", "n")
        await settle(pilot)
        assert store.has_id(30)
        await pilot.press("d", "y")
        await settle(pilot)
        assert not store.has_id(30)
        assert listed(app) == []


@sync
async def test_help_and_command_palette(store: Store) -> None:
    app = MailopsApp(store)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        keys = dict((d, k) for k, d in app.screen.keys)
        assert keys["Search"] == "/" and keys["Delete"].startswith("d")
        await pilot.press("escape")
        assert isinstance(app.screen, MailboxScreen)
        # The command palette offers the mailbox's actions by name.
        await pilot.press("ctrl+p")
        for _ in range(100):
            if isinstance(app.screen, CommandPalette):
                break
            await pilot.pause(0.02)
        await pilot.press(*"Toggle flag")
        for _ in range(200):
            found = app.screen.query_one(CommandList)
            if found.option_count and found.highlighted is not None:
                break
            await pilot.pause(0.02)
        await pilot.press("enter")
        await settle(pilot)
        assert store.get(30)["flagged"]
        await pilot.press("q")
    assert app.return_code == 0


@sync
async def test_mail_from_a_running_serve_appears(home: Path) -> None:
    path = store_path(home)
    fill(path, 3)
    server = start_server(home)
    try:
        with Store(path) as store:
            app = MailopsApp(store, poll_interval=0.1)
            async with app.run_test(size=SIZE) as pilot:
                await settle(pilot)
                assert listed(app) == [3, 2, 1]
                with smtplib.SMTP(server.host, server.port) as smtp:
                    smtp.sendmail("app@example.test", ["dev@example.test"],
                                  message(99, subject="Fresh arrival"))
                for _ in range(200):  # the daemon indexes, the poll notices
                    await asyncio.sleep(0.05)
                    await settle(pilot)
                    top = mailbox(app).messages.source.row(0)  # type: ignore[union-attr]
                    if top is not None and top["subject"] == "Fresh arrival":
                        break
                assert top is not None and top["subject"] == "Fresh arrival"
                assert status(app) == "INBOX: 4 messages"
                assert mailbox(app).messages.current["id"] == 3  # type: ignore[index]
    finally:
        server.stop()


@sync
async def test_reader_reduces_html_and_shows_defects(home: Path) -> None:
    path = store_path(home)
    with Store(path) as store:
        store.add_raw([Incoming(raw=raw, received_at=1780000000.0 + i) for i, raw in enumerate([
            b"From: a@example.test\r\nSubject: broken\r\nDate: Mon, 01 Jun 2026 10:00:00 +0000"
            b"\r\nContent-Type: multipart/mixed; boundary=\"zz\"\r\n\r\nno boundary here\r\n",
            b"From: b@example.test\r\nSubject: html only\r\nDate: Tue, 02 Jun 2026 10:00:00"
            b" +0000\r\nContent-Type: text/html; charset=utf-8\r\n\r\n<html><body><p>Hello"
            b" <b>there</b></p><p><a href=\"https://example.test/x\">link</a></p>"
            b"<script>evil()</script></body></html>\r\n"])])
        while store.index_pending():
            continue
        app = MailopsApp(store)
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot)
            await pilot.press("enter")  # the newest: the HTML-only message
            await settle(pilot)
            text = str(app.screen.query_one("#reader-text").render())
            assert "Hello there\nlink" in text and "<p>" not in text and "evil" not in text
            assert "Links:\n[1] https://example.test/x" in text
            await pilot.press("n")
            await settle(pilot)
            text = str(app.screen.query_one("#reader-text").render())
            assert "Parse defects: StartBoundaryNotFoundDefect" in text
