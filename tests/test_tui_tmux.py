"""End to end in a real terminal: tmux runs `mailops tui`, send-keys drives it, and
capture-pane checks what a person would see."""

from __future__ import annotations

import os
import re
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


def test_serve_catches_mail_while_the_tui_watches(home: Path, tmux: Tmux) -> None:
    import smtplib
    import socket

    from test_tui_app import message

    fill(store_path(home), 3)
    with socket.socket() as probe:  # a free loopback port for the catcher
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    command = (f"env -u COLUMNS -u LINES {sys.executable} -m mailops.commands --home {home}"
               f" tui --serve --listen 127.0.0.1:{port} --poll 0.2")
    tmux("new-session", "-d", "-s", "tui", "-x", "120", "-y", "40", command)
    tmux("resize-window", "-t", "tui", "-x", "120", "-y", "40")
    tmux.wait_for(f"INBOX: 3 messages  · catching mail on 127.0.0.1:{port}", timeout=60)
    with smtplib.SMTP("127.0.0.1", port) as smtp:
        smtp.sendmail("app@example.test", ["dev@example.test"],
                      message(99, subject="Caught in the act"))
    # First as "(not indexed yet)", then with its subject once the catcher indexed it.
    tmux.wait_for("Caught in the act", timeout=60)
    # The count is made after the page is drawn (a worker): it may follow a moment later.
    tmux.wait_for("INBOX: 4 messages", timeout=60)
    tmux("send-keys", "-t", "tui", "q")
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:  # quitting stops the catcher: the port frees
        with socket.socket() as again:
            # SO_REUSEADDR: only a listening socket (not a TIME_WAIT) blocks the bind.
            again.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                again.bind(("127.0.0.1", port))
                break
            except OSError:
                time.sleep(0.1)
    else:
        raise AssertionError("the catcher still listens after q")


_SGR = re.compile(r"\x1b\[([0-9;]*)m")


def colours(screen: str) -> set[tuple[int, int, int]]:
    """Every RGB colour (foreground or background) set by the escapes on screen."""
    found: set[tuple[int, int, int]] = set()
    for params in _SGR.findall(screen):
        codes = [int(c) if c else 0 for c in params.split(";")]
        i = 0
        while i < len(codes):
            if codes[i] in (38, 48) and i + 4 < len(codes) and codes[i + 1] == 2:
                found.add((codes[i + 2], codes[i + 3], codes[i + 4]))
                i += 5
            elif codes[i] in (38, 48) and i + 2 < len(codes) and codes[i + 1] == 5:
                found.add((-1, codes[i + 2], -1))  # a palette colour: not grey by RGB
                i += 3
            else:
                i += 1
    return found


@pytest.mark.parametrize("no_color", [False, True])
def test_no_color_leaves_only_greys_in_a_real_terminal(home: Path, tmux: Tmux,
                                                       no_color: bool) -> None:
    fill(store_path(home), 3)
    env = "env -u NO_COLOR COLORTERM=truecolor" + (" NO_COLOR=1" if no_color else "")
    tmux("new-session", "-d", "-s", "tui", "-x", "120", "-y", "40",
         f"{env} {sys.executable} -m mailops.commands --home {home} tui")
    tmux("resize-window", "-t", "tui", "-x", "120", "-y", "40")
    tmux.wait_for("INBOX: 3 messages")
    seen = colours(tmux("capture-pane", "-e", "-p", "-t", "tui"))
    assert seen  # the screen is drawn with colours (or greys)
    greys = {c for c in seen if c[0] == c[1] == c[2]}
    if no_color:
        assert seen == greys, seen - greys
    else:
        assert seen != greys  # the theme's accent colours are there
