"""Authentication-Results (RFC 8601) in the reader, `show` and `show --json`."""

from __future__ import annotations

import asyncio
from pathlib import Path

from conftest import Cli
from mailops.tui.app import MailopsApp
from mailops.tui.reader import ReaderScreen
from textual.widgets import Static

from mailops.authresults import auth_results
from mailops.store import Incoming, Store

SIGNED = (b"Authentication-Results: mx.example.net;\r\n"
          b"  dkim=pass header.d=example.org header.s=s1;\r\n"
          b"  spf=fail (sender not permitted) smtp.mailfrom=a@example.org;\r\n"
          b"  dmarc=pass header.from=example.org\r\n"
          b"Authentication-Results: relay.example.com; arc=none\r\n"
          b"Authentication-Results: garbage ;; ===\r\n"
          b"From: Alice <a@example.org>\r\nTo: me@example.net\r\nSubject: verified\r\n"
          b"Message-ID: <v1@example.org>\r\nDate: Sat, 28 Nov 2026 10:00:00 +0000\r\n\r\nhello\r\n")


def test_every_result_of_every_header_in_order() -> None:
    got = [(r.authserv_id, r.method, r.result, r.detail) for r in auth_results(SIGNED)]
    assert got == [
        ("mx.example.net", "dkim", "pass", "header.d=example.org header.s=s1"),
        ("mx.example.net", "spf", "fail", "smtp.mailfrom=a@example.org"),
        ("mx.example.net", "dmarc", "pass", "header.from=example.org"),
        ("relay.example.com", "arc", "none", ""),
        ("", "?", "unparsable", "garbage ;; ==="),
    ]
    assert auth_results(b"Subject: none\r\n\r\nx\r\n") == []


def test_show_and_show_json(cli: Cli, tmp_path: Path) -> None:
    eml = tmp_path / "signed.eml"
    eml.write_bytes(SIGNED)
    cli.ok("import", str(eml))
    shown = cli.ok("show", "1").out
    assert "Authentication: dkim=pass spf=fail dmarc=pass (by mx.example.net)" in shown
    assert "Authentication: arc=none (by relay.example.com)" in shown
    auth = cli.ok("show", "1", "--json").json()["auth"]
    assert auth[0] == {"authserv_id": "mx.example.net", "method": "dkim", "result": "pass",
                       "detail": "header.d=example.org header.s=s1"}
    assert len(auth) == 5


def test_reader_lists_the_verdicts(tmp_path: Path) -> None:
    async def run() -> None:
        with Store(tmp_path / "m.db") as store:
            store.add_raw([Incoming(raw=SIGNED)])
            store.index_pending(10)
            app = MailopsApp(store, poll_interval=3600)
            async with app.run_test(size=(120, 40)) as pilot:
                for _ in range(100):
                    await pilot.pause(0.05)
                    if app.mailbox.messages.current is not None:
                        break
                await pilot.press("enter")
                text = ""
                for _ in range(100):
                    await pilot.pause(0.05)
                    if isinstance(app.screen, ReaderScreen):
                        text = str(app.screen.query_one("#reader-text", Static).render())
                        if "Authentication" in text:
                            break
                assert "Authentication: dkim=pass spf=fail dmarc=pass (by mx.example.net)" \
                    in text, text

    asyncio.run(run())
