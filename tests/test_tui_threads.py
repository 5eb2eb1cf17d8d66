"""The TUI's conversations and sorts, driven by Pilot: the thread tree (`t`), the
conversation listing (`T`), and sorting by sender, subject and size (`S`, `o`)."""

from __future__ import annotations

from email.message import EmailMessage
from pathlib import Path

from mailops.tui.app import MailopsApp
from mailops.tui.mailbox import MailboxScreen
from mailops.tui.reader import ReaderScreen
from mailops.tui.thread import ThreadScreen
from test_tui_app import SIZE, listed, mailbox, settle, status, store_path, sync
from textual.pilot import Pilot

from mailops.store import Incoming, Store


def mail(i: int, sender: str, subject: str, *, parent: int | None = None,
         body: str = "hi") -> bytes:
    """Message i (June 2026, newer for bigger i), replying to `parent` if given."""
    m = EmailMessage()
    m["From"] = sender
    m["To"] = "dev@example.test"
    m["Subject"] = subject
    m["Date"] = f"Mon, {i:02d} Jun 2026 10:00:00 +0000"
    m["Message-ID"] = f"<t{i}@example.test>"
    if parent is not None:
        m["In-Reply-To"] = f"<t{parent}@example.test>"
        m["References"] = f"<t{parent}@example.test>"
    m.set_content(body)
    return m.as_bytes()


def fill(home: Path) -> Store:
    """A three-message thread (1 <- 2 <- 4), a reply to a missing message (5), and
    two lone messages of different sizes."""
    store = Store(store_path(home))
    store.add_raw([Incoming(raw=raw, received_at=1780000000.0 + n) for n, raw in enumerate([
        mail(1, "Carol <carol@example.test>", "Plans"),
        mail(2, "alice <alice@example.test>", "Re: Plans", parent=1),
        mail(3, "Bob <bob@example.test>", "Lunch", body="x" * 3000),
        mail(4, "Carol <carol@example.test>", "Re: Plans", parent=2),
        mail(5, "Dave <dave@example.test>", "Re: Lost", parent=99),
        mail(6, "erin <erin@example.test>", "about size"),
    ])])
    while store.index_pending():
        continue
    return store


async def wait_for(pilot: Pilot[None], screen: type) -> None:
    for _ in range(200):
        await settle(pilot)
        if isinstance(pilot.app.screen, screen):
            return
    raise AssertionError(f"{screen.__name__} never showed")


@sync
async def test_thread_tree_steps_and_opens(home: Path) -> None:
    with fill(home) as store:
        app = MailopsApp(store)
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot)
            assert listed(app) == [6, 5, 4, 3, 2, 1]
            await pilot.press("j", "j", "t")  # on message 4, the thread's newest
            await wait_for(pilot, ThreadScreen)
            screen = app.screen
            assert isinstance(screen, ThreadScreen)
            for _ in range(100):
                await pilot.pause(0.02)
                node = screen.thread_tree.cursor_node
                if node is not None and node.data == 4:
                    break
            lines = screen.message_lines()
            ids = [screen.thread_tree.get_node_at_line(n).data for n in lines]  # type: ignore[union-attr]
            assert ids == [1, 2, 4]  # reply order: the root, its reply, the reply's reply
            assert "3 messages" in str(screen.query_one("#thread-title").render())
            await pilot.press("p")
            assert screen.thread_tree.cursor_node.data == 2  # type: ignore[union-attr]
            await pilot.press("enter")
            await wait_for(pilot, ReaderScreen)
            assert app.screen.msg_id == 2  # type: ignore[attr-defined]
            await pilot.press("n")  # the reader walks the thread, not the list
            await settle(pilot)
            assert app.screen.msg_id == 4  # type: ignore[attr-defined]
            assert "Re: Plans" in str(app.screen.query_one("#reader-text").render())
            await pilot.press("q")
            await wait_for(pilot, ThreadScreen)
            await pilot.press("q")
            await wait_for(pilot, MailboxScreen)
            assert store.get(2)["read"] and store.get(4)["read"]


@sync
async def test_a_reply_to_a_missing_message_shows_a_placeholder(home: Path) -> None:
    with fill(home) as store:
        app = MailopsApp(store)
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot)
            await pilot.press("j", "t")  # message 5
            await wait_for(pilot, ThreadScreen)
            screen = app.screen
            assert isinstance(screen, ThreadScreen)
            top = screen.thread_tree.get_node_at_line(0)
            assert top is not None and top.data is None
            assert "not in the store" in str(top.label)
            assert [screen.thread_tree.get_node_at_line(n).data  # type: ignore[union-attr]
                    for n in screen.message_lines()] == [5]


@sync
async def test_conversation_listing_groups_threads(home: Path) -> None:
    with fill(home) as store:
        app = MailopsApp(store)
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot)
            await pilot.press("j", "j", "T")  # from message 4: its thread stays highlighted
            await settle(pilot)
            assert listed(app) == [6, 5, 4, 3]  # each thread by its newest message
            lst = mailbox(app).messages
            assert lst.current is not None and lst.current["id"] == 4
            assert lst.current["thread_count"] == 3
            assert status(app) == "INBOX: 4 messages, conversations, newest first"
            await pilot.press("o")
            await settle(pilot)
            assert listed(app) == [3, 4, 5, 6]  # the Plans thread's newest is June 4
            await pilot.press("enter")
            await wait_for(pilot, ThreadScreen)
            assert len(app.screen.message_lines()) == 3  # type: ignore[attr-defined]
            await pilot.press("q")
            await wait_for(pilot, MailboxScreen)
            await pilot.press("T")  # back to messages, in the sort before
            await settle(pilot)
            assert listed(app) == [6, 5, 4, 3, 2, 1]


@sync
async def test_sort_by_sender_subject_size(home: Path) -> None:
    with fill(home) as store:
        app = MailopsApp(store)
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot)
            await pilot.press("S")
            await settle(pilot)
            assert listed(app) == [2, 3, 1, 4, 5, 6]  # alice, Bob, Carol x2, Dave, erin
            assert status(app).endswith("by sender")
            await pilot.press("S")
            await settle(pilot)
            assert listed(app) == [6, 3, 1, 5, 2, 4]  # about, Lunch, Plans, Re: Lost, ...
            await pilot.press("o")
            await settle(pilot)
            assert listed(app) == [4, 2, 5, 1, 3, 6]
            await pilot.press("S")
            await settle(pilot)
            assert listed(app)[0] == 3  # the largest
            assert status(app).endswith("largest first")
            await pilot.press("S")
            await settle(pilot)
            assert listed(app) == [6, 5, 4, 3, 2, 1]


@sync
async def test_select_all_in_conversations_takes_every_matching_message(home: Path) -> None:
    with fill(home) as store:
        app = MailopsApp(store)
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot)
            await pilot.press("T")
            await settle(pilot)
            await pilot.press("asterisk")
            assert status(app).endswith("6 selected (all matching)")  # 4 rows, 6 messages
            await pilot.press("plus", *"seen", "enter")
            await settle(pilot)
            assert all(store.get(i)["tags"] == ["seen"] for i in range(1, 7))
