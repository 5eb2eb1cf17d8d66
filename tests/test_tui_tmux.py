"""End to end in a real terminal: tmux runs `mailops tui`, send-keys drives it, and
capture-pane checks what a person would see."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import require_tool
from test_tui_app import fill, store_path


class Tmux:
    """One tmux server of our own (its own socket), one 120x40 window."""

    def __init__(self, tmux: str, socket: str) -> None:
        self.tmux = tmux
        self.socket = socket

    def __call__(self, *args: str) -> str:
        return subprocess.run([self.tmux, "-L", self.socket, "-f", "/dev/null", *args],
                              capture_output=True,
                              text=True, check=True, timeout=30).stdout

    def screen(self) -> str:
        return self("capture-pane", "-p", "-t", "tui")

    def wait_for(self, text: str, timeout: float = 30) -> str:
        """The screen once it shows `text` (fails with the last screen otherwise)."""
        deadline = time.monotonic() + timeout
        shown = ""
        while time.monotonic() < deadline:
            shown = self.screen()
            if text in shown:
                return shown
            time.sleep(0.1)
        raise AssertionError(f"{text!r} never appeared; the screen was:\n{shown}")


@pytest.fixture
def tmux(home: Path) -> Iterator[Tmux]:
    t = Tmux(require_tool("tmux"), f"mailops-test-{os.getpid()}-{time.monotonic_ns()}")
    yield t
    subprocess.run([t.tmux, "-L", t.socket, "kill-server"], capture_output=True, timeout=30)


def test_search_and_read_in_a_real_terminal(home: Path, tmux: Tmux) -> None:
    fill(store_path(home), 30)
    # Without COLUMNS/LINES from this process: the app must size itself to the pane.
    command = f"env -u COLUMNS -u LINES {sys.executable} -m mailops.commands --home {home} tui"
    tmux("new-session", "-d", "-s", "tui", "-x", "120", "-y", "40", command)
    tmux("resize-window", "-t", "tui", "-x", "120", "-y", "40")  # no client sets a size
    first = tmux.wait_for("INBOX: 30 messages")
    assert "Message 30 about invoice" in first and "Message 29 about deploy" in first
    tmux("send-keys", "-t", "tui", "/")
    tmux.wait_for("Search", timeout=10)
    time.sleep(0.3)  # the bar takes focus on the next event-loop turn
    tmux("send-keys", "-t", "tui", "-l", "subject:invoice")
    tmux("send-keys", "-t", "tui", "Enter")
    found = tmux.wait_for("INBOX: 10 messages matching subject:invoice")
    assert "Message 27 about invoice" in found and "Message 29 about deploy" not in found
    tmux.wait_for("Read/unread")  # the footer once the list has the focus back
    tmux("send-keys", "-t", "tui", "Enter")
    tmux.wait_for("Save attachments")  # the reader's footer
    reader = tmux.wait_for("Attachment: report-30.pdf")
    assert "Hello, this is body 30." in reader
    assert "Subject: Message 30 about invoice" in reader
    assert "Message 27 about invoice" not in reader  # the list is gone: full screen
    tmux("send-keys", "-t", "tui", "q")
    tmux.wait_for("INBOX: 10 messages matching subject:invoice")
    tmux("send-keys", "-t", "tui", "q")
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:  # q on the mailbox quits: the window closes
        if subprocess.run([tmux.tmux, "-L", tmux.socket, "has-session", "-t", "tui"],
                          capture_output=True).returncode != 0:
            break
        time.sleep(0.1)
    else:
        raise AssertionError("the app did not quit on q:\n" + tmux.screen())
