"""`mailops dkim rotate` against a real Knot DNS server taking RFC 2136 updates with TSIG:
the full rotation, the dry run, stopping and resuming, and re-runs that change nothing."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import dns.query
import dns.rdatatype
import dns.tsigkeyring
import dns.update
from conftest import Cli, KnotFactory

MESSAGE = b"From: a@example.test\r\nTo: b@example.org\r\nSubject: hi\r\n\r\nhello\r\n"


def _txt(srv: Any, selector: str) -> list[str]:
    reply = srv.query(f"{selector}._domainkey.example.test", "TXT")
    return [b"".join(r.strings).decode() for rrset in reply.answer for r in rrset]


def _serial(srv: Any) -> int:
    [rrset] = srv.query("example.test", "SOA").answer
    return int(rrset[0].serial)


def _setup(cli: Cli, home: Path, knot: KnotFactory) -> tuple[Any, list[str]]:
    """s1 signs example.test and is published; returns the server and rotate's args."""
    s1 = cli.ok("dkim", "keygen", "--domain", "example.test", "--selector", "s1",
                "--json").json()
    srv = knot({"example.test": f"@ MX 10 mx\nmx A 127.0.0.1\n{s1['zone_line']}\n"})
    key = home / "update.key"  # BIND tsig-keygen format
    key.write_text(f'key "{srv.tsig_name}" {{\n\talgorithm {srv.tsig_algorithm};\n'
                   f'\tsecret "{srv.tsig_secret}";\n}};\n')
    args = ["dkim", "rotate", "--domain", "example.test", "--old", "s1", "--new", "s2",
            "--nameserver", srv.nameserver, "--tsig-key-file", str(key), "--wait-timeout", "20"]
    return srv, args


def _active(home: Path) -> str:
    return str(json.loads((home / "dkim" / "active.json").read_text())["example.test"])


def _steps(res: Any) -> dict[str, str]:
    return {s["step"]: s["status"] for s in res.json()["steps"]}


def test_full_rotation_dry_run_resume_and_no_op_rerun(cli: Cli, home: Path,
                                                      knot: KnotFactory) -> None:
    srv, args = _setup(cli, home, knot)
    s1_key = _txt(srv, "s1")
    serial = _serial(srv)

    # The dry run plans every step and changes nothing, locally or in the zone.
    plan = cli.ok(*args, "--dry-run", "--json")
    assert _steps(plan) == dict.fromkeys(("keygen", "publish", "wait", "switch", "revoke"),
                                         "planned")
    assert _serial(srv) == serial and _txt(srv, "s2") == []
    assert not (home / "dkim" / "example.test" / "s2.key").exists()
    assert not (home / "dkim" / "example.test" / "rotate-s2.json").exists()
    assert _active(home) == "s1"

    # Stopped after two steps (as a killed run would be): the key is published...
    first = cli.ok(*args, "--max-steps", "2", "--json")
    assert _steps(first) == {"keygen": "done", "publish": "done"}
    s2_txt = json.loads((home / "dkim" / "example.test" / "s2.json").read_text())["txt"]
    assert _txt(srv, "s2") == [s2_txt]
    assert _active(home) == "s1"

    # ...and the next run continues; the default grace period keeps s1 published.
    second = cli.ok(*args, "--json")
    assert _steps(second) == {"keygen": "recorded", "publish": "recorded", "wait": "done",
                              "switch": "done", "revoke": "waiting"}
    assert _active(home) == "s2" and _txt(srv, "s1") == s1_key
    assert second.json()["complete"] is False

    # Mail is now signed with s2 and verifies against the zone.
    signed = home / "signed.eml"
    signed.write_bytes(cli.ok("dkim", "sign", "-", input=MESSAGE).stdout_bytes)
    assert b"s=s2;" in signed.read_bytes()
    assert cli("dkim", "verify", str(signed), "--nameserver", srv.nameserver).code == 0

    third = cli.ok(*args, "--grace", "0", "--json")
    assert _steps(third)["revoke"] == "done" and third.json()["complete"] is True
    assert _txt(srv, "s1") == ["v=DKIM1; k=rsa; p="]
    assert _txt(srv, "s2") == [s2_txt]

    # Complete: a re-run does nothing at all (the zone's serial stays).
    serial = _serial(srv)
    again = cli.ok(*args, "--grace", "0")
    assert "rotation complete" in again.out
    assert set(_steps(cli.ok(*args, "--json")).values()) == {"recorded"}
    assert _serial(srv) == serial


def test_resume_after_a_crash_between_update_and_record(cli: Cli, home: Path,
                                                        knot: KnotFactory) -> None:
    """A run killed after its update reached the server but before it recorded the step:
    the next run finds the record in place and sends no second update."""
    srv, args = _setup(cli, home, knot)
    args.remove("--old")
    args.remove("s1")  # the default: the active selector, then the one recorded
    first = cli.ok(*args, "--max-steps", "1", "--json")
    assert _steps(first) == {"keygen": "done"} and first.json()["old"] == "s1"
    s2_txt = json.loads((home / "dkim" / "example.test" / "s2.json").read_text())["txt"]
    update = dns.update.UpdateMessage(
        "example.test", keyring=dns.tsigkeyring.from_text({srv.tsig_name: srv.tsig_secret}),
        keyalgorithm=srv.tsig_algorithm)
    chunks = [s2_txt[i:i + 255] for i in range(0, len(s2_txt), 255)]
    update.replace("s2._domainkey", 3600, "TXT", " ".join(f'"{c}"' for c in chunks))
    assert dns.query.tcp(update, srv.host, port=srv.port, timeout=5).rcode() == 0
    serial = _serial(srv)

    res = cli.ok(*args, "--grace", "0", "--json")
    assert _steps(res) == {"keygen": "recorded", "publish": "already", "wait": "done",
                           "switch": "done", "revoke": "done"}
    assert _txt(srv, "s1") == ["v=DKIM1; k=rsa; p="]
    # s2 is active now; the rotation's recorded old selector is still s1.
    assert cli.ok(*args, "--json").json()["old"] == "s1"
    assert _serial(srv) == serial + 1  # only the revoke changed the zone


def test_rotation_errors_are_one_line(cli: Cli, home: Path, knot: KnotFactory) -> None:
    srv, args = _setup(cli, home, knot)
    wrong = home / "wrong.key"  # the one-line ALGORITHM:NAME:SECRET form, a wrong secret
    wrong.write_text(f"hmac-sha256:{srv.tsig_name}:c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0\n")
    at = args.index("--tsig-key-file") + 1
    res = cli(*args[:at], str(wrong), *args[at + 1:])
    assert res.code == 22, res.err
    assert len(res.err.splitlines()) == 1 and "dynamic update" in res.err
    assert _txt(srv, "s2") == []
    assert cli(*args[:at], str(home / "nope.key"), *args[at + 1:]).code == 2
    no_key = [a for i, a in enumerate(args) if i not in (at - 1, at)]
    res = cli(*no_key)
    assert res.code == 2 and "--tsig-key-file is required" in res.err


def _add_txt(srv: Any, selector: str, text: str) -> None:
    """Put the TXT at SELECTOR._domainkey on `srv` (a secondary catching up)."""
    update = dns.update.UpdateMessage(
        "example.test", keyring=dns.tsigkeyring.from_text({srv.tsig_name: srv.tsig_secret}),
        keyalgorithm=srv.tsig_algorithm)
    chunks = [text[i:i + 255] for i in range(0, len(text), 255)]
    update.replace(f"{selector}._domainkey", 3600, "TXT", " ".join(f'"{c}"' for c in chunks))
    assert dns.query.tcp(update, srv.host, port=srv.port, timeout=5).rcode() == 0


def test_wait_on_a_lagging_secondary_holds_the_switch(cli: Cli, home: Path,
                                                      knot: KnotFactory) -> None:
    """--wait-on: the switch waits until every named server shows the new key; a server
    that never does fails the wait (exit 22), and the next run resumes at the wait."""
    srv, args = _setup(cli, home, knot)
    zone = (f"@ MX 10 mx\nmx A 127.0.0.1\n"
            f"s1._domainkey TXT {' '.join(chr(34) + t + chr(34) for t in _txt(srv, 's1'))}\n")
    secondary = knot({"example.test": zone})
    at = args.index("--wait-timeout") + 1
    args[at] = "1"
    args += ["--wait-on", secondary.nameserver, "--grace", "0"]

    plan = cli.ok(*args, "--dry-run", "--json").json()
    wait = next(s for s in plan["steps"] if s["step"] == "wait")
    assert srv.nameserver in wait["detail"] and secondary.nameserver in wait["detail"]

    res = cli(*args)
    assert res.code == 22, res.err
    assert len(res.err.splitlines()) == 1
    assert secondary.nameserver in res.err and "does not answer" in res.err
    assert srv.nameserver not in res.err  # the primary has it already
    assert _active(home) == "s1"  # not switched while a server lags
    s2_txt = json.loads((home / "dkim" / "example.test" / "s2.json").read_text())["txt"]
    assert _txt(srv, "s2") == [s2_txt] and _txt(secondary, "s2") == []

    _add_txt(secondary, "s2", s2_txt)  # the secondary catches up
    done = cli.ok(*args, "--json")
    assert _steps(done) == {"keygen": "recorded", "publish": "recorded", "wait": "done",
                            "switch": "done", "revoke": "done"}
    assert _active(home) == "s2"
