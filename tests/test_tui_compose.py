"""Compose, reply, drafts and sending from the TUI, to a real `mailops serve` on loopback."""

from __future__ import annotations

import socket
import sys
from collections.abc import Callable, Iterator
from email import policy
from email.parser import BytesParser
from pathlib import Path
from typing import Any

import pytest
from conftest import Server, start_server
from mailops.tui.app import MailopsApp
from mailops.tui.compose import ComposeScreen
from mailops.tui.dialogs import PromptScreen
from mailops.tui.mailbox import MailboxScreen
from mailops.tui.widgets import folder_scope
from test_tui_app import SIZE, fill, settle, store_path, sync
from test_tui_tmux import Tmux, tmux  # noqa: F401  (tmux: the fixture)
from textual.pilot import Pilot
from textual.widgets import Input, TextArea

from mailops import drafts
from mailops.store import Store

ME = "Me <me@example.test>"


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Server]:
    """`mailops serve` with a store of its own (the TUI's is another)."""
    srv_home = tmp_path / "served"
    srv_home.mkdir()
    srv = start_server(srv_home)
    yield srv
    srv.stop()


def configure(home: Path, monkeypatch: pytest.MonkeyPatch, server: str) -> None:
    """The TUI's config: where to send, and as whom."""
    (home / "config.toml").write_text(f'[send]\nserver = "{server}"\nfrom = "{ME}"\n'
                                      "timeout = 10\n")
    monkeypatch.setenv("MAILOPS_HOME", str(home))


@pytest.fixture
def store(home: Path) -> Iterator[Store]:
    fill(store_path(home), 3)
    with Store(store_path(home)) as opened:
        yield opened


def received(srv: Server) -> list[Any]:
    """What the served store holds, parsed."""
    with Store(store_path(srv.home)) as store:
        return [BytesParser(policy=policy.default).parsebytes(store.raw(i))
                for i in store.iter_ids()]


def screen(app: MailopsApp) -> ComposeScreen:
    assert isinstance(app.screen, ComposeScreen)
    return app.screen


async def until(pilot: Pilot[None], done: Callable[[], bool]) -> None:
    for _ in range(500):
        await pilot.pause(0.02)
        if done():
            return
    raise AssertionError("the condition never came true")


async def type_in(pilot: Pilot[None], field: str, text: str) -> None:
    pilot.app.screen.query_one(f"#field-{field}", Input).focus()
    await pilot.pause()
    await pilot.press("end", *text)  # the focus selects the value: typing would replace it


async def new_message(pilot: Pilot[None], to: str, subject: str) -> None:
    """Open compose with `c` and fill in the recipient and the subject."""
    await pilot.press("c")
    await pilot.pause()
    await pilot.press(*to)
    await type_in(pilot, "subject", subject)


@sync
async def test_compose_attach_and_send(store: Store, home: Path, tmp_path: Path,
                                       served: Server, monkeypatch: pytest.MonkeyPatch
                                       ) -> None:
    configure(home, monkeypatch, f"127.0.0.1:{served.port}")
    report = tmp_path / "report.csv"
    report.write_text("q,amount\n2,41\n")
    app = MailopsApp(store, poll_interval=3600)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("c")
        await pilot.pause()
        compose = screen(app)
        assert app.focused is compose.query_one("#field-to", Input)
        await pilot.press(*"alice@example.test")
        await type_in(pilot, "subject", "Hello there")
        compose.query_one("#body", TextArea).text = "First line\nSecond line\n"
        await pilot.press("ctrl+o")
        await until(pilot, lambda: isinstance(app.screen, PromptScreen))
        app.screen.query_one(Input).value = str(report)
        await pilot.press("enter")
        await pilot.pause()
        assert compose.attachments == [report]
        assert "report.csv" in str(compose.query_one("#attachments").render())
        await pilot.press("ctrl+x")
        await until(pilot, lambda: isinstance(app.screen, MailboxScreen))
        await settle(pilot)
    (got,) = received(served)
    assert got["From"] == ME and got["To"] == "alice@example.test"
    assert got["Subject"] == "Hello there"
    assert got.get_body(("plain",)).get_content() == "First line\r\nSecond line\r\n"
    assert [(a.get_filename(), a.get_payload(decode=True)) for a in got.iter_attachments()] \
        == [("report.csv", b"q,amount\n2,41\n")]
    (sent,) = store.list("folder:sent")
    assert sent["message_id"] == got["Message-ID"].strip("<>")
    assert drafts.list_drafts(store) == []


@sync
async def test_reply_threads_and_marks_replied(store: Store, home: Path, served: Server,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    configure(home, monkeypatch, f"127.0.0.1:{served.port}")
    app = MailopsApp(store, poll_interval=3600)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("enter")  # the reader: `r` replies there too
        await settle(pilot)
        await pilot.press("r")
        await pilot.pause()
        compose = screen(app)
        assert compose.field("to") == "Sender 3 <sender3@example.test>"
        assert compose.field("subject") == "Re: Message 3 about invoice"
        assert "> Hello, this is body 3." in compose.query_one("#body", TextArea).text
        await pilot.press("ctrl+x")
        await until(pilot, lambda: not isinstance(app.screen, ComposeScreen))
    (got,) = received(served)
    assert got["In-Reply-To"] == "<m3@example.test>"
    assert got["References"] == "<m3@example.test>"
    assert got["To"] == "Sender 3 <sender3@example.test>"
    assert store.get(3)["replied"]


@sync
async def test_draft_survives_a_restart_and_is_editable(store: Store, home: Path,
                                                        monkeypatch: pytest.MonkeyPatch
                                                        ) -> None:
    configure(home, monkeypatch, "127.0.0.1:9")
    app = MailopsApp(store, poll_interval=3600)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("f")  # forward the newest message
        await pilot.pause()
        await type_in(pilot, "to", "bob@example.test")
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert "Draft saved" in str(screen(app).query_one("#compose-status").render())
        await pilot.press("escape")
        await until(pilot, lambda: isinstance(app.screen, MailboxScreen))
    store.close()
    with Store(store_path(home)) as reopened:
        (first,) = drafts.list_drafts(reopened)
        app = MailopsApp(reopened, poll_interval=3600)
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot)
            app.mailbox.select_scope(folder_scope("drafts"))
            await settle(pilot)
            await pilot.press("enter")
            await pilot.pause()
            compose = screen(app)
            assert compose.field("to") == "bob@example.test"
            assert compose.field("subject") == "Fwd: Message 3 about invoice"
            await type_in(pilot, "subject", " (edited)")
            await pilot.press("ctrl+s", "escape")
            await until(pilot, lambda: isinstance(app.screen, MailboxScreen))
        (row,) = drafts.list_drafts(reopened)
        assert row["id"] != first["id"] and not reopened.has_id(first["id"])
        assert row["subject"] == "Fwd: Message 3 about invoice (edited)"
        assert row["folder"] == "drafts" and "draft" in row["flags"]


@sync
async def test_body_in_editor(store: Store, home: Path, tmp_path: Path,
                              monkeypatch: pytest.MonkeyPatch) -> None:
    configure(home, monkeypatch, "127.0.0.1:9")
    editor = tmp_path / "editor.sh"
    editor.write_text('#!/bin/sh\nprintf "Written in the editor\\n" >> "$1"\n')
    editor.chmod(0o755)
    monkeypatch.delenv("VISUAL", raising=False)
    monkeypatch.setenv("EDITOR", str(editor))
    app = MailopsApp(store, poll_interval=3600)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("c")
        await pilot.pause()
        screen(app).query_one("#body", TextArea).text = "Typed here\n"
        await pilot.press("ctrl+e")
        await pilot.pause()
        assert screen(app).query_one("#body", TextArea).text == \
            "Typed here\nWritten in the editor\n"
        await pilot.press("ctrl+x")  # nobody to send to: said at once, nothing sent
        await pilot.pause()
        assert str(screen(app).query_one("#compose-status").render()) == \
            "no recipients: fill in To, Cc or Bcc"


@sync
async def test_send_failure_shows_error_and_keeps_draft(store: Store, home: Path,
                                                        monkeypatch: pytest.MonkeyPatch
                                                        ) -> None:
    with socket.socket() as probe:  # a loopback port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    configure(home, monkeypatch, f"127.0.0.1:{port}")
    app = MailopsApp(store, poll_interval=3600)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await new_message(pilot, "alice@example.test", "Unlucky")
        await pilot.press("ctrl+x")
        compose = screen(app)
        await until(pilot, lambda: not compose.sending)
        status = str(compose.query_one("#compose-status").render())
        assert status.startswith("not sent: ") and "(draft kept)" in status
        assert isinstance(app.screen, ComposeScreen)
    (row,) = drafts.list_drafts(store)
    assert row["subject"] == "Unlucky" and row["to"] == ["alice@example.test"]


def test_compose_screen_snapshot(home: Path, monkeypatch: pytest.MonkeyPatch,
                                 snap_compare: Callable[..., Any]) -> None:
    configure(home, monkeypatch, "127.0.0.1:9")
    fill(store_path(home), 3)

    async def reply_to_newest(pilot: Pilot[None]) -> None:
        await settle(pilot)
        await pilot.press("R")
        await pilot.pause()
        for widget in (*pilot.app.screen.query(Input), pilot.app.screen.query_one(TextArea)):
            widget.cursor_blink = False  # a still frame

    with Store(store_path(home)) as store:
        app = MailopsApp(store, poll_interval=3600)
        assert snap_compare(app, terminal_size=SIZE, run_before=reply_to_newest)


def test_editor_and_send_in_a_real_terminal(home: Path, tmp_path: Path, served: Server,
                                            tmux: Tmux) -> None:  # noqa: F811
    """App.suspend() for real: the editor gets the terminal, then the app is back."""
    fill(store_path(home), 3)
    (home / "config.toml").write_text(f'[send]\nserver = "127.0.0.1:{served.port}"\n'
                                      f'from = "{ME}"\n')
    editor = tmp_path / "editor.sh"
    editor.write_text('#!/bin/sh\nprintf "Written in a real terminal\\n" >> "$1"\n')
    editor.chmod(0o755)
    command = (f"env -u COLUMNS -u LINES -u VISUAL MAILOPS_HOME={home} EDITOR={editor} "
               f"{sys.executable} -m mailops.commands tui")
    tmux("new-session", "-d", "-s", "tui", "-x", "120", "-y", "40", command)
    tmux("resize-window", "-t", "tui", "-x", "120", "-y", "40")
    tmux.wait_for("INBOX: 3 messages")
    tmux("send-keys", "-t", "tui", "c")
    tmux.wait_for("Save draft")  # the compose screen's footer; To has the focus
    tmux("send-keys", "-t", "tui", "-l", "alice@example.test")
    tmux.wait_for("alice@example.test")
    tmux("send-keys", "-t", "tui", "C-e")
    tmux.wait_for("Written in a real terminal")
    tmux("send-keys", "-t", "tui", "C-x")
    tmux.wait_for("INBOX: 3 messages")  # sent: back on the mailbox
    (got,) = received(served)
    assert got["To"] == "alice@example.test" and got["Subject"] is None
    assert got.get_body(("plain",)).get_content() == "Written in a real terminal\r\n"


@sync
async def test_send_over_starttls_with_auth_from_the_config(
        store: Store, home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """[send] security = "starttls", user and cafile reach the compose screen's send (the
    same settings `mailops send` reads); the password comes from the environment, and
    without one the send fails with one line and keeps the draft."""
    srv_home = tmp_path / "tls-served"
    srv_home.mkdir()
    srv = start_server(srv_home, "--starttls", "--auth", "any")
    try:
        (home / "config.toml").write_text(
            f'[send]\nserver = "127.0.0.1:{srv.port}"\nfrom = "{ME}"\ntimeout = 10\n'
            f'security = "starttls"\nuser = "alice"\n'
            f'cafile = "{srv_home / "tls" / "selfsigned.crt"}"\n')
        monkeypatch.setenv("MAILOPS_HOME", str(home))
        monkeypatch.delenv("MAILOPS_SMTP_PASSWORD", raising=False)
        monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "keyring.backends.null.Keyring")
        app = MailopsApp(store, poll_interval=3600)
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot)
            await new_message(pilot, "tls@example.test", "Over TLS")
            await pilot.press("ctrl+x")  # no password anywhere: refused before connecting
            await pilot.pause()
            status = str(screen(app).query_one("#compose-status").render())
            assert status.startswith("no password for alice"), status
            monkeypatch.setenv("MAILOPS_SMTP_PASSWORD", "s3cret")
            await pilot.press("ctrl+x")
            await until(pilot, lambda: isinstance(app.screen, MailboxScreen))
        (got,) = received(srv)
        assert got["Subject"] == "Over TLS"
        sessions = [ln for ln in srv.log_text().splitlines() if " session " in ln]
        assert any("tls=true" in ln and "auth=true" in ln for ln in sessions), sessions
        assert drafts.list_drafts(store) == []
    finally:
        srv.stop()


@sync
async def test_quitting_while_composing_keeps_a_draft(store: Store, home: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    configure(home, monkeypatch, "127.0.0.1:9")
    app = MailopsApp(store, poll_interval=3600)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await new_message(pilot, "late@example.test", "Unfinished")
        await pilot.press("ctrl+q")
        await pilot.pause()
    (row,) = drafts.list_drafts(store)
    assert row["subject"] == "Unfinished" and row["to"] == ["late@example.test"]
