"""DKIM keys, signing and verifying: keys made by `mailops dkim keygen`, published in a
real Knot DNS zone, messages signed by `dkim sign` and checked by `dkim verify`."""

from __future__ import annotations

import base64
import stat
from pathlib import Path

import dns.rdtypes.ANY.TXT
import dns.zone
import pytest
from conftest import Cli, KnotFactory
from cryptography.hazmat.primitives.serialization import load_der_public_key, load_pem_private_key
from knotdns import free_port

MESSAGE = (b"From: Alice <alice@example.test>\r\nTo: bob@example.org\r\n"
           b"Subject: quarterly report\r\nMessage-ID: <r1@example.test>\r\n\r\n"
           b"The numbers are in.\r\n")


def _keygen(cli: Cli, selector: str, *extra: str) -> dict[str, object]:
    data = cli.ok("dkim", "keygen", "--domain", "example.test", "--selector", selector,
                  "--json", *extra).json()
    assert isinstance(data, dict)
    return data


def _txt_strings(zone_line: str) -> list[bytes]:
    """The strings of the one TXT record in a zone-file line (parsed by dnspython)."""
    zone = dns.zone.from_text(zone_line + "\n", origin="example.test", check_origin=False)
    [(_, _, rdata)] = list(zone.iterate_rdatas("TXT"))
    assert isinstance(rdata, dns.rdtypes.ANY.TXT.TXT)
    return list(rdata.strings)


@pytest.mark.parametrize("key_type,bits", [("rsa", 2048), ("ed25519", 256)])
def test_keygen_keeps_a_0600_key_and_prints_a_record_that_parses(
        cli: Cli, home: Path, key_type: str, bits: int) -> None:
    data = _keygen(cli, "k1", "--type", key_type)
    key_path = Path(str(data["key"]))
    assert key_path == home / "dkim" / "example.test" / "k1.key"
    assert stat.S_IMODE(key_path.stat().st_mode) == 0o600
    assert stat.S_IMODE(key_path.parent.stat().st_mode) == 0o700
    assert data["active"] is True  # the domain's first key signs

    strings = _txt_strings(str(data["zone_line"]))
    assert all(len(s) <= 255 for s in strings)
    text = b"".join(strings).decode()
    tags = dict(t.strip().split("=", 1) for t in text.split(";"))
    assert tags["v"] == "DKIM1" and tags["k"] == key_type
    public = base64.b64decode(tags["p"])
    private = load_pem_private_key(key_path.read_bytes(), None)
    if key_type == "rsa":
        assert len(strings) == 2  # a 2048-bit key's p= is longer than one string
        assert load_der_public_key(public).key_size == bits  # type: ignore[union-attr]
        assert private.key_size == bits  # type: ignore[union-attr]
    else:
        assert len(public) == 32
        assert private.public_key().public_bytes_raw() == public  # type: ignore[union-attr]

    before = key_path.read_bytes()
    again = cli("dkim", "keygen", "--domain", "example.test", "--selector", "k1")
    assert again.code == 21 and "exists" in again.err
    assert key_path.read_bytes() == before  # a published key is never replaced


def test_keygen_rejects_bad_input(cli: Cli) -> None:
    for args in (["--selector", "../x"], ["--selector", "s", "--bits", "1000"]):
        res = cli("dkim", "keygen", "--domain", "example.test", *args)
        assert res.code == 2, res.err
        assert res.err.startswith("mailops: error:") and len(res.err.splitlines()) == 1
    assert cli("dkim", "keygen", "--domain", "not a domain", "--selector", "s").code == 2


@pytest.mark.parametrize("key_type,algorithm", [("rsa", "rsa-sha256"),
                                                ("ed25519", "ed25519-sha256")])
def test_sign_and_verify_round_trip_against_knot(cli: Cli, home: Path, knot: KnotFactory,
                                                 key_type: str, algorithm: str) -> None:
    key = _keygen(cli, "k1", "--type", key_type)
    srv = knot({"example.test": f"{key['zone_line']}\n"})
    message = home / "msg.eml"
    message.write_bytes(MESSAGE)
    signed = cli.ok("dkim", "sign", str(message)).stdout_bytes  # k1 is active: first key
    assert signed.endswith(MESSAGE) and signed.startswith(b"DKIM-Signature:")
    path = home / "signed.eml"
    path.write_bytes(signed)
    res = cli("dkim", "verify", str(path), "--nameserver", srv.nameserver, "--json")
    assert res.code == 0, res.err
    assert res.json() == [{"index": 0, "domain": "example.test", "selector": "k1",
                           "algorithm": algorithm, "passed": True, "reason": ""}]

    tampered = home / "tampered.eml"
    tampered.write_bytes(signed.replace(b"numbers are in", b"numbers are up"))
    bad = cli("dkim", "verify", str(tampered), "--nameserver", srv.nameserver)
    assert bad.code == 1
    assert bad.out.startswith("fail: body hash mismatch"), bad.out
    if key_type == "ed25519":
        return

    # A key the zone does not publish: a failed signature, not a lookup error.
    _keygen(cli, "unpublished")
    lost = home / "lost.eml"
    lost.write_bytes(cli.ok("dkim", "sign", str(message), "--selector", "unpublished")
                     .stdout_bytes)
    res = cli("dkim", "verify", str(lost), "--nameserver", srv.nameserver)
    assert res.code == 1 and res.out.startswith("fail:"), res.out

    # No server answering: exit 21, never "the key is missing".
    dead = cli("dkim", "verify", str(path), "--nameserver", f"127.0.0.1:{free_port()}",
               "--timeout", "0.5")
    assert dead.code == 21, dead.err
    assert "key lookup for k1._domainkey.example.test" in dead.err


def test_sign_reads_stdin_and_needs_a_key(cli: Cli, home: Path) -> None:
    res = cli("dkim", "sign", "-", input=MESSAGE)
    assert res.code == 21 and "no active selector for example.test" in res.err
    _keygen(cli, "s1")
    signed = cli.ok("dkim", "sign", "-", input=MESSAGE).stdout_bytes
    assert b"d=example.test;" in signed and b"s=s1;" in signed
    unsigned = home / "plain.eml"
    unsigned.write_bytes(MESSAGE)
    none = cli("dkim", "verify", str(unsigned))
    assert none.code == 1 and "no DKIM-Signature" in none.out
    assert cli("dkim", "verify", str(unsigned), "--nameserver", "nonsense").code == 2
    assert cli("dkim", "verify", str(home / "missing.eml")).code == 2
