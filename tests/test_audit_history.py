"""Stored audit runs: `--changed` for cron, `--history`, config selectors, old and
encrypted stores. Zones come from a real Knot server, changed by RFC 2136 updates."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import dns.query
import dns.tsigkeyring
import dns.update
import pytest
from conftest import Cli, KnotFactory

from mailops.audit.history import compare, digest
from mailops.store.schema import MIGRATIONS

OK = ('@ MX 10 mx\nmx A 127.0.0.2\nmx AAAA ::2\n@ TXT "v=spf1 mx -all"\n'
      '_dmarc TXT "v=DMARC1; p=reject; rua=mailto:d@{zone}"\n')
ZONES = {z: OK.format(zone=z) for z in ("moving.test", "stable.test", "cfg.test")}
ZONES["weak.test"] = ('@ MX 10 mx\nmx A 127.0.0.2\n@ TXT "v=spf1 mx -all"\n'
                      '_dmarc TXT "v=DMARC1; p=none; rua=mailto:d@weak.test"\n')


@pytest.fixture(scope="module")
def srv(knot_module: KnotFactory) -> Any:
    return knot_module(ZONES)


def audit(cli: Cli, srv: Any, *args: str) -> tuple[int, str]:
    res = cli("audit", "--no-smtp", "--no-dnssec", "--nameserver", srv.nameserver,
              *args)
    assert res.code in (0, 1), res.err
    return res.code, res.out


def set_spf(srv: Any, zone: str, record: str) -> None:
    update = dns.update.UpdateMessage(
        zone, keyring=dns.tsigkeyring.from_text({srv.tsig_name: srv.tsig_secret}),
        keyalgorithm=srv.tsig_algorithm)
    update.replace("@", 300, "TXT", f'"{record}"')
    reply = dns.query.tcp(update, srv.host, port=srv.port, timeout=5)
    assert reply.rcode() == 0


def test_changed_reports_only_changes_and_history_shows_them(cli: Cli, srv: Any) -> None:
    both = ("moving.test", "weak.test")
    code, out = audit(cli, srv, *both, "--changed")  # first run: everything is new
    assert code == 0 and "first stored run" in out and "dmarc.policy_none" in out
    assert audit(cli, srv, *both, "--changed", "--quiet") == (0, "")
    code, out = audit(cli, srv, *both, "--changed")
    assert (code, out.strip()) == (0, "no changes since the last run (2 domains)")

    set_spf(srv, "moving.test", "v=spf1 mx +all")
    code, out = audit(cli, srv, *both, "--changed", "--json")
    assert code == 1  # the changed domain now has an error
    data = json.loads(out)
    assert [d["domain"] for d in data] == ["moving.test"]
    assert [f["code"] for f in data[0]["new"]] == ["spf.plus_all"]
    assert data[0]["resolved"] == [] and data[0]["previous_run"].endswith("Z")
    assert "spf.plus_all" in {f["code"] for f in data[0]["findings"]}
    # Unchanged since: silent and 0, though the error is still there.
    assert audit(cli, srv, *both, "--changed", "--quiet") == (0, "")

    set_spf(srv, "moving.test", "v=spf1 mx -all")
    code, out = audit(cli, srv, "moving.test", "--changed", "--no-store")
    assert code == 0 and "resolved" in out and "spf.plus_all" in out
    # --no-store kept nothing: the fix is still news to the next stored run.
    code, out = audit(cli, srv, "moving.test", "--changed", "--quiet")
    assert (code, out) == (0, "")  # a fix fails nothing, so --quiet says nothing

    hist = cli.ok("audit", "--history", "MOVING.test.", "--json").json()
    assert hist["domain"] == "moving.test"
    runs = hist["runs"]
    assert len(runs) == 6 and runs[0]["first"] and not runs[1]["first"]
    changes = [(sorted(f["code"] for f in r["new"]), sorted(f["code"] for f in r["resolved"]))
               for r in runs[1:]]
    assert changes == [([], []), ([], []), (["spf.plus_all"], []), ([], []),
                       ([], ["spf.plus_all"])]
    assert runs[3]["counts"]["error"] == 1 and runs[5]["counts"]["error"] == 0
    text = cli.ok("audit", "--history", "moving.test", "--limit", "2").out
    assert "2 runs" in text and "-spf.plus_all" in text and "first run" not in text
    assert "no stored audit runs" in cli.ok("audit", "--history", "stable.test").out


def test_same_findings_in_another_order_or_with_other_numbers_are_no_change() -> None:
    def f(code: str, sev: str, msg: str) -> dict[str, object]:
        return {"code": code, "severity": sev, "message": msg, "evidence": [], "fix": None}

    before = [f("mx.duplicate", "warning", "MX host(s) listed more than once: a.test, b.test"),
              f("smtp.cert_expiring", "warning", "mx.test: certificate expires in 12 days")]
    after = [f("smtp.cert_expiring", "warning", "mx.test: certificate expires in 11 days"),
             f("mx.duplicate", "warning", "MX host(s) listed more than once: b.test, a.test")]
    assert not compare("x.test", before, after).changed
    assert digest(before) == digest(after)
    worse = [after[0], {**after[1], "severity": "error"}]
    diff = compare("x.test", before, worse)
    assert (diff.new, diff.resolved) == ([], [])
    assert [(d["code"], d["previous_severity"], d["severity"]) for d in diff.severity_changed] \
        == [("mx.duplicate", "warning", "error")]
    assert digest(worse) != digest(before)


def test_selectors_from_config(cli: Cli, home: Path, srv: Any) -> None:
    (home / "config.toml").write_text('[audit]\nselectors = ["cfgall"]\n'
                                      '[audit.domains."CFG.test."]\nselectors = ["cfgone"]\n')
    rows = {r["key"]: r for r in cli.ok("config", "show", "--json").json()}
    assert rows["audit.selectors"]["value"] == ["cfgall"]
    assert rows["audit.selectors"]["source"].endswith("config.toml")
    assert rows['audit.domains."cfg.test".selectors']["value"] == ["cfgone"]
    res = cli("audit", "--no-smtp", "--no-dnssec", "--no-dkim-probe", "--nameserver",
              srv.nameserver, "cfg.test", "stable.test", "--selector", "flagsel",
              "--json", "--no-store")
    data = {d["domain"]: d for d in res.json()}

    def missing(domain: str) -> set[str]:
        return {m for f in data[domain]["findings"] if f["code"] == "dkim.missing"
                for m in ("flagsel", "cfgall", "cfgone") if f"selector {m}" in f["message"]}

    assert missing("cfg.test") == {"flagsel", "cfgall", "cfgone"}
    assert missing("stable.test") == {"flagsel", "cfgall"}
    assert not (home / "mailops.db").exists()  # --no-store opens no store
    (home / "config.toml").write_text('[audit.domains."cfg.test"]\nselector = ["x"]\n')
    res = cli("config", "show")
    assert res.code == 3 and "takes only selectors" in res.err


def test_old_store_is_migrated_on_open(cli: Cli, home: Path, srv: Any) -> None:
    store = home / "mailops.db"
    db = sqlite3.connect(store)
    for migration in MIGRATIONS[:4]:  # the schema mailops had before audit runs
        db.executescript(migration)
    db.execute("PRAGMA user_version = 4")
    db.close()
    audit(cli, srv, "stable.test")
    assert sqlite3.connect(store).execute("PRAGMA user_version").fetchone()[0] \
        == len(MIGRATIONS)
    assert len(cli.ok("audit", "--history", "stable.test", "--json").json()["runs"]) == 1


def test_encrypted_store_keeps_runs_encrypted(cli: Cli, home: Path, tmp_path: Path,
                                              srv: Any) -> None:
    cli.ok("init", "--encrypt", "--key-file", str(tmp_path / "store.key"))
    audit(cli, srv, "weak.test")
    assert audit(cli, srv, "weak.test", "--changed", "--quiet") == (0, "")
    runs = cli.ok("audit", "--history", "weak.test", "--json").json()["runs"]
    assert [r["counts"]["warning"] > 0 for r in runs] == [True, True]
    cli.ok("audit", "--no-smtp", "--no-dnssec", "--nameserver", srv.nameserver, "weak.test",
           env={"MAILOPS_AUDIT_KEEP_RUNS": "1"})  # the oldest two runs go
    runs = cli.ok("audit", "--history", "weak.test", "--json").json()["runs"]
    assert len(runs) == 1 and runs[0]["first"] and runs[0]["counts"]["warning"] > 0
    raw = b"".join(p.read_bytes() for p in home.glob("mailops.db*") if p.is_file())
    assert b"weak.test" not in raw and b"policy_none" not in raw
