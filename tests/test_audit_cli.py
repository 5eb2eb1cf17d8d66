"""`mailops audit` as cron and CI run it: exit codes, JSON, JUnit, --quiet, --ignore."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest
from conftest import Cli, KnotFactory

ZONES = {
    "ok.test": '@ MX 10 mx\nmx A 127.0.0.2\nmx AAAA ::2\n@ TXT "v=spf1 mx -all"\n'
               '_dmarc TXT "v=DMARC1; p=reject; rua=mailto:d@ok.test"\n',
    "weak.test": '@ MX 10 mx\nmx A 127.0.0.2\n@ TXT "v=spf1 mx -all"\n'
                 '_dmarc TXT "v=DMARC1; p=none; rua=mailto:d@weak.test"\n',
    "broken.test": '@ MX 10 mx\nmx A 127.0.0.2\n@ TXT "v=spf1 mx +all"\n',
}


@pytest.fixture(scope="module")
def ns(knot_module: KnotFactory) -> str:
    return str(knot_module(ZONES, tsig=False).nameserver)


def codes(entry: dict[str, Any]) -> set[str]:
    return {f["code"] for f in entry["findings"]}


def test_exit_codes_follow_fail_on(cli: Cli, ns: str) -> None:
    both = ("ok.test", "weak.test", "--nameserver", ns)
    assert cli("audit", "--no-smtp", *both).code == 0  # warnings only
    res = cli("audit", "--no-smtp", *both, "--fail-on", "warning")
    assert res.code == 1
    assert "dmarc.policy_none" in res.out and "fix:" in res.out
    assert cli("audit", "--no-smtp", "broken.test", "--nameserver", ns).code == 1


def test_json_list_one_object_per_domain(cli: Cli, ns: str, tmp_path: Path) -> None:
    listing = tmp_path / "domains.txt"
    listing.write_text("# audited nightly\nbroken.test\n\nOK.test.  # trailing dot, case\n")
    res = cli("audit", "--no-smtp", "-f", str(listing), "--nameserver", ns, "--json")
    assert res.code == 1, res.err
    data = res.json()
    assert [d["domain"] for d in data] == ["broken.test", "ok.test"]
    broken = data[0]
    assert {"spf.plus_all", "dmarc.missing"} <= codes(broken)
    for f in broken["findings"]:
        assert set(f) == {"code", "severity", "message", "evidence", "fix"}
        assert f["severity"] in ("error", "warning", "info")
        assert isinstance(f["evidence"], list)
    assert not [f for f in data[1]["findings"] if f["severity"] != "info"]


def test_quiet_ignore_and_junit(cli: Cli, ns: str, tmp_path: Path) -> None:
    res = cli("audit", "--no-smtp", "ok.test", "weak.test", "--nameserver", ns, "--quiet")
    assert (res.code, res.out) == (0, "")
    junit = tmp_path / "audit.xml"
    res = cli("audit", "--no-smtp", "broken.test", "ok.test", "--nameserver", ns, "--quiet",
              "--ignore", "dmarc.missing,bimi.*", "--junit", str(junit))
    assert res.code == 1
    assert "spf.plus_all" in res.out and "dmarc.missing" not in res.out
    assert "ok.test" not in res.out  # --quiet shows only what fails
    root = ET.parse(junit).getroot()
    suites = {s.get("name"): s for s in root.iter("testsuite")}
    assert set(suites) == {"broken.test", "ok.test"}
    failures = [f.get("type") for f in suites["broken.test"].iter("failure")]
    assert failures == ["spf.plus_all"]
    assert suites["ok.test"].get("failures") == "0"
    res = cli("audit", "--no-smtp", "broken.test", "--nameserver", ns, "--ignore", "spf.plus_all",
              "--ignore", "dmarc.missing", "--json")
    assert res.code == 0 and not codes(res.json()[0]) & {"spf.plus_all", "dmarc.missing"}


def test_resolver_failure_is_a_finding_not_a_crash(cli: Cli) -> None:
    from knotdns import free_port

    res = cli("audit", "--no-smtp", "-f", "-", "--nameserver", f"127.0.0.1:{free_port()}",
              "--timeout", "0.3", "--json", input=b"ok.test\n")
    assert res.code == 1
    assert codes(res.json()[0]) == {"dns.lookup_failed"}


@pytest.mark.parametrize("args,needle", [
    ([], "name at least one domain"),
    (["ok.test", "--nameserver", "resolver.example"], "expected an IP address"),
    (["not a domain"], "not a domain name"),
    (["-f", "/nonexistent/domains.txt"], "cannot read"),
])
def test_usage_and_operational_errors_exit_2(cli: Cli, args: list[str], needle: str) -> None:
    res = cli("audit", "--no-smtp", *args)
    assert res.code == 2, res.err
    lines = res.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("mailops: error: ") and needle in lines[0]


def test_audit_settings_in_the_config_are_the_defaults(cli: Cli, ns: str, home: Path) -> None:
    """[audit] nameservers, smtp and timeout from the config file apply without flags;
    a flag still wins (here --nameserver at a dead port: a lookup failure, exit 1)."""
    (home / "config.toml").write_text(
        f'[audit]\nnameservers = ["{ns}"]\nsmtp = false\ntimeout = 2\n')
    res = cli("audit", "ok.test", "weak.test", "--json")
    assert res.code == 0, res.err
    data = res.json()
    assert "dmarc.policy_none" in codes(data[1])
    assert not any(c.startswith("smtp.") for d in data for c in codes(d))  # smtp = false
    probed = cli("audit", "ok.test", "--smtp", "--timeout", "1", "--json")  # the flag wins
    assert any(c.startswith("smtp.") for c in codes(probed.json()[0])), probed.out
    dead = cli("audit", "ok.test", "--nameserver", "127.0.0.1:9", "--timeout", "0.5", "--json")
    assert dead.code == 1 and "dns.lookup_failed" in codes(dead.json()[0])
