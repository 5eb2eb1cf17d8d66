"""The domain-health screen (`H`): stored results by area, findings and fixes, re-runs
in a worker against a real Knot DNS server on loopback, history, and the engine
helpers behind it (mailops.audit.health)."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import dns.query
import dns.tsigkeyring
import dns.update
import pytest
from conftest import KnotFactory
from mailops.tui.app import MailopsApp
from mailops.tui.dialogs import HelpScreen
from mailops.tui.health import HealthScreen
from mailops.tui.health_widgets import DomainTable, FindingTable, HistoryScreen
from mailops.tui.mailbox import MailboxScreen
from test_tui_app import SIZE, settle, store_path, sync
from textual.pilot import Pilot
from textual.widgets import ProgressBar, Static

from mailops.audit import AuditOptions, DomainReport, audit
from mailops.audit.health import (
    AREAS,
    DomainHealth,
    Grade,
    area_of,
    area_of_finding,
    health_domains,
    latest_health,
    options_from_config,
    unchecked_areas,
)
from mailops.audit.history import record
from mailops.config import load_config
from mailops.errors import ConfigError
from mailops.store import Store

OK = ('@ MX 10 mx\nmx A 127.0.0.2\nmx AAAA ::2\n@ TXT "v=spf1 mx -all"\n'
      '_dmarc TXT "v=DMARC1; p=reject; rua=mailto:d@{zone}"\n')
BAD = ('@ MX 10 mx\nmx A 127.0.0.2\n@ TXT "v=spf1 mx +all"\n'
       '_dmarc TXT "v=DMARC1; p=none; rua=mailto:d@bad.test"\n')
ZONES = {"good.test": OK.format(zone="good.test"), "bad.test": BAD,
         "moving.test": OK.format(zone="moving.test")}
RUN_AT = 1795000000.0  # 2026-11-18 11:06 UTC: snapshots show stored times, never the clock


@pytest.fixture(scope="module")
def srv(knot_module: KnotFactory) -> Any:
    return knot_module(ZONES)


def write_config(home: Path, srv: Any, domains: tuple[str, ...]) -> None:
    """The audit settings the screen re-runs with: the Knot server, no SMTP probe."""
    tables = "".join(f'[audit.domains."{d}"]\n' for d in domains)
    (home / "config.toml").write_text(
        f'[audit]\nnameservers = ["{srv.nameserver}"]\nsmtp = false\ndnssec = false\n'
        f"timeout = 5\n{tables}")


@pytest.fixture
def opened(home: Path, srv: Any) -> Iterator[tuple[Store, Any]]:
    write_config(home, srv, ("good.test", "bad.test"))
    config = load_config(str(home), environ={})
    with Store(store_path(home)) as store:
        yield store, config


async def open_health(pilot: Pilot[None]) -> HealthScreen:
    await settle(pilot)
    await pilot.press("H")
    for _ in range(100):
        if isinstance(pilot.app.screen, HealthScreen):
            await pilot.pause()
            return pilot.app.screen
        await pilot.pause(0.01)
    raise AssertionError("H did not open the health screen")


async def rerun(pilot: Pilot[None], screen: HealthScreen, key: str) -> None:
    """Press r or R and wait for the worker's result to be stored and shown."""
    before = id(screen.last_changes)
    await pilot.press(key)
    for _ in range(3000):  # the audit runs in a thread: wait for its stored result
        if not screen.running and id(screen.last_changes) != before:
            break
        await pilot.pause(0.01)
    assert id(screen.last_changes) != before, "the re-run never stored a run"
    await pilot.pause()


def cells(screen: HealthScreen, domain: str) -> dict[str, str]:
    """The domain table's row for `domain`, by column header."""
    table = screen.query_one(DomainTable)
    row = table.get_row(domain)
    headers = ["Domain", "Last run", *AREAS]
    return {h: str(c) for h, c in zip(headers, row, strict=True)}


def detail(screen: HealthScreen) -> str:
    return str(screen.query_one("#detail", Static).render())


def set_spf(srv: Any, zone: str, record_text: str) -> None:
    update = dns.update.UpdateMessage(
        zone, keyring=dns.tsigkeyring.from_text({srv.tsig_name: srv.tsig_secret}),
        keyalgorithm=srv.tsig_algorithm)
    update.replace("@", 300, "TXT", f'"{record_text}"')
    assert dns.query.tcp(update, srv.host, port=srv.port, timeout=5).rcode() == 0


@sync
async def test_rerun_all_shows_areas_findings_and_fixes(opened: tuple[Store, Any]) -> None:
    store, config = opened
    app = MailopsApp(store, poll_interval=3600, config=config)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_health(pilot)
        assert [r.domain for r in screen.rows] == ["bad.test", "good.test"]
        assert cells(screen, "good.test")["Last run"] == "never"
        assert "no stored run" in detail(screen)
        assert "1 nameserver from the config" in str(
            screen.query_one("#health-title", Static).render())

        await rerun(pilot, screen, "R")
        bar = screen.query_one(ProgressBar)
        assert (bar.progress, bar.total) == (2, 2)
        assert str(screen.query_one("#progress-label", Static).render()) == \
            "Auditing: 2 of 2 domains done"
        assert [c.domain for c in screen.last_changes] == ["bad.test", "good.test"]

        good, bad = cells(screen, "good.test"), cells(screen, "bad.test")
        assert good["Last run"] != "never"
        # Not checked with these settings: SMTP probe off, no DNSBL zones, no DNSSEC.
        assert {a: good[a] for a in ("SMTP", "DNSBL", "DNSSEC/DANE")} == dict.fromkeys(
            ("SMTP", "DNSBL", "DNSSEC/DANE"), "-")
        assert {good[a] for a in AREAS if a not in ("SMTP", "DNSBL", "DNSSEC/DANE")} \
            == {"pass"}
        assert (bad["SPF"], bad["DMARC"], bad["MX"]) == ("fail", "warn", "pass")

        # bad.test is highlighted (first): its findings worst first, the fix of the first.
        findings = screen.query_one(FindingTable)
        first = [str(c) for c in findings.get_row_at(0)]
        assert first[:3] == ["error", "SPF", "spf.plus_all"]
        assert [str(findings.get_row_at(1)[2])] == ["dmarc.policy_none"]
        text = detail(screen)
        assert "seen: bad.test TXT \"v=spf1 mx +all\"" in text
        assert 'Fix: bad.test. IN TXT "v=spf1 mx -all"' in text
        await pilot.press("enter", "j")  # over to the findings, then the DMARC one
        await pilot.pause()
        assert isinstance(app.focused, FindingTable)
        assert detail(screen).startswith("dmarc.policy_none  warning")
        # r re-runs the highlighted domain only; the cursor stays on it.
        screen.query_one(DomainTable).focus()
        await pilot.press("j")
        await rerun(pilot, screen, "r")
        assert screen.current is not None and screen.current.domain == "good.test"
        assert [(c.domain, c.changed) for c in screen.last_changes] == [("good.test", False)]
        # The same run is in the store for `mailops audit --history`.
        assert {h.domain: h.run_at is not None for h in latest_health(
            store, ["bad.test", "good.test"])} == {"bad.test": True, "good.test": True}


@sync
async def test_history_shows_new_and_fixed_findings(home: Path, srv: Any) -> None:
    write_config(home, srv, ("moving.test",))
    with Store(store_path(home)) as store:
        app = MailopsApp(store, poll_interval=3600, config=load_config(str(home), environ={}))
        try:
            async with app.run_test(size=SIZE) as pilot:
                screen = await open_health(pilot)
                await rerun(pilot, screen, "r")
                assert screen.last_changes[0].previous_at is None
                set_spf(srv, "moving.test", "v=spf1 mx +all")
                await rerun(pilot, screen, "r")
                assert [f["code"] for f in screen.last_changes[0].new] == ["spf.plus_all"]
                assert cells(screen, "moving.test")["SPF"] == "fail"
                set_spf(srv, "moving.test", "v=spf1 mx -all")
                await rerun(pilot, screen, "r")
                assert cells(screen, "moving.test")["SPF"] == "pass"
                await pilot.press("h")
                await pilot.pause()
                assert isinstance(app.screen, HistoryScreen)
                shown = str(app.screen.query_one("#history-text", Static).render())
                lines = [line.split() for line in shown.splitlines()]
                assert ["fixed", "error", "spf.plus_all"] in [w[:3] for w in lines]
                assert ["new", "error", "spf.plus_all"] in [w[:3] for w in lines]
                assert "3 runs, newest first" in shown and "first stored run" in shown
                # the newest run comes first: its "fixed" line precedes the "new" one
                assert shown.index("fixed") < shown.index("new ")
                await pilot.press("q")
                await pilot.pause()
                assert app.screen is screen
        finally:
            set_spf(srv, "moving.test", "v=spf1 mx -all")


@sync
async def test_keys_help_palette_and_back(opened: tuple[Store, Any]) -> None:
    store, config = opened
    app = MailopsApp(store, poll_interval=3600, config=config)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        titles = [c.title for c in app.get_system_commands(app.screen)]
        assert "Domain health" in titles
        screen = await open_health(pilot)
        await pilot.press("question_mark")
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen)
        keys = dict((d, k) for k, d in app.screen.keys)
        assert {"Back", "Re-run", "Re-run all", "History"} <= set(keys)
        assert (keys["Re-run"], keys["Re-run all"], keys["History"]) == ("r", "R", "h")
        await pilot.press("escape")
        await pilot.pause()
        assert app.screen is screen
        await pilot.press("h")  # no stored run yet: the history says so
        await pilot.pause()
        assert "No stored runs yet" in str(app.screen.query_one("#history-text",
                                                                Static).render())
        await pilot.press("escape", "escape")
        await pilot.pause()
        assert isinstance(app.screen, MailboxScreen)


@sync
async def test_without_config_or_runs_it_says_where_domains_come_from(home: Path) -> None:
    with Store(store_path(home)) as store:
        app = MailopsApp(store, poll_interval=3600)
        async with app.run_test(size=SIZE) as pilot:
            screen = await open_health(pilot)
            assert screen.rows == []
            assert "No domains yet" in detail(screen)
            await pilot.press("r")  # nothing to audit: a notice, no worker
            await pilot.pause()
            assert not screen.running and screen.last_changes == []


def test_snapshot(home: Path, srv: Any, snap_compare: Callable[..., Any]) -> None:
    write_config(home, srv, ("good.test", "bad.test"))
    config = load_config(str(home), environ={})
    reports = audit(["bad.test", "good.test"], options_from_config(config))
    with Store(store_path(home)) as store:
        record(store, reports, now=RUN_AT)
        app = MailopsApp(store, poll_interval=3600, config=config)

        async def open_it(pilot: Pilot[None]) -> None:
            await open_health(pilot)
            await pilot.pause()

        assert snap_compare(app, terminal_size=SIZE, run_before=open_it)


# -- the engine helpers --------------------------------------------------------------


def test_areas_from_codes_and_failed_lookups() -> None:
    assert [area_of(c) for c in ("mx.null_mx", "spf.lookup_limit", "dkim.weak_key",
                                 "dmarc.missing", "mta_sts.missing", "tlsrpt.syntax",
                                 "bimi.missing", "dnssec.bogus", "dane.mismatch",
                                 "ptr.missing", "smtp.open_relay", "dnsbl.listed",
                                 "dns.nxdomain", "future.code")] == [
        "MX", "SPF", "DKIM", "DMARC", "MTA-STS/TLS-RPT", "MTA-STS/TLS-RPT", "BIMI",
        "DNSSEC/DANE", "DNSSEC/DANE", "PTR", "SMTP", "DNSBL", "DNS", "DNS"]

    def failed(evidence: str) -> str:
        return area_of_finding({"code": "dns.lookup_failed", "severity": "error",
                                "evidence": [evidence]})

    assert failed("2.0.0.127.in-addr.arpa PTR: lookup failed (REFUSED)") == "PTR"
    assert failed("_dmarc.x.test TXT: lookup failed (SERVFAIL)") == "DMARC"
    assert failed("s1._domainkey.x.test TXT (via CNAME k.y.test): lookup failed") == "DKIM"
    assert failed("x.test TXT: lookup failed (timeout)") == "SPF"
    assert failed("x.test MX: lookup failed (timeout)") == "MX"
    assert failed("mx.x.test A: lookup failed (timeout)") == "DNS"
    assert area_of_finding({"code": "dns.lookup_failed", "evidence": []}) == "DNS"


def test_grades_domains_and_options(home: Path) -> None:
    health = DomainHealth("x.test", RUN_AT, [
        {"code": "spf.plus_all", "severity": "error"},
        {"code": "spf.softfail_all", "severity": "warning"},
        {"code": "dmarc.policy_none", "severity": "warning"},
        {"code": "mta_sts.missing", "severity": "info"}])
    areas = health.areas()
    assert (areas["SPF"], areas["DMARC"], areas["MTA-STS/TLS-RPT"], areas["MX"]) == (
        Grade.fail, Grade.warn, Grade.passed, Grade.passed)
    assert [f["code"] for f in health.worst_first()] == [
        "spf.plus_all", "spf.softfail_all", "dmarc.policy_none", "mta_sts.missing"]

    (home / "config.toml").write_text(
        '[audit]\nnameservers = ["127.0.0.1:5353"]\ntimeout = 2\nsmtp = false\n'
        'dnsbl = ["zen.example."]\nselectors = ["s1"]\n'
        '[audit.domains."Config.Test."]\nselectors = ["k2"]\n')
    config = load_config(str(home), environ={})
    options = options_from_config(config)
    assert (options.nameservers, options.timeout, options.smtp, options.dnssec) == (
        ["127.0.0.1:5353"], 2.0, False, True)
    assert (options.selectors, options.domain_selectors, options.dnsbl_zones) == (
        ["s1"], {"config.test": ["k2"]}, ["zen.example"])
    assert unchecked_areas(options) == {"SMTP"}
    assert unchecked_areas(AuditOptions(smtp=True, dnsbl_zones=["z"])) == set()
    with Store(store_path(home)) as store:
        record(store, [DomainReport("stored.test", [])], now=RUN_AT)
        assert health_domains(store, config.audit_domains) == ["config.test", "stored.test"]
        got = latest_health(store, ["config.test", "stored.test"])
        assert [(h.domain, h.run_at) for h in got] == [("config.test", None),
                                                       ("stored.test", RUN_AT)]
    env = {"MAILOPS_AUDIT_TRUST_ANCHOR": str(home / "missing.txt")}
    with pytest.raises(ConfigError, match=r"audit\.trust_anchor"):
        options_from_config(load_config(str(home), environ=env))


def test_mailbox_start_does_not_load_the_audit_engine_or_compose() -> None:
    # dnspython and httpx cost most of a second, the compose path (email, send) about a
    # tenth: only opening those screens pays for them.
    lazy = ("mailops.tui.compose", "mailops.drafts", "mailops.reply", "mailops.send")
    code = ("import sys\nimport mailops.tui.app\n"
            f"print(sorted(m for m in sys.modules if m.startswith('mailops.audit') "
            f"or m in {lazy!r}))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "[]"
