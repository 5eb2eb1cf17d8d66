"""`dkim keygen --keyring`: the private key lives in the OS keyring, not the data dir.

The desktop keyring is not there in CI, so this module also holds a small file-backed
keyring backend that `keyring` loads through PYTHON_KEYRING_BACKEND, exactly as it
loads any third-party backend.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING

from keyring.backend import KeyringBackend

if TYPE_CHECKING:
    from conftest import Cli

MESSAGE = b"From: a@example.test\r\nTo: b@example.org\r\nSubject: hi\r\n\r\nhello\r\n"


class FileKeyring(KeyringBackend):
    """Passwords in the JSON file named by $MAILOPS_TEST_KEYRING."""

    priority = 1  # type: ignore[assignment]

    def _path(self) -> Path:
        return Path(os.environ["MAILOPS_TEST_KEYRING"])

    def _load(self) -> dict[str, str]:
        path = self._path()
        return dict(json.loads(path.read_text())) if path.exists() else {}

    def get_password(self, service: str, username: str) -> str | None:
        return self._load().get(f"{service}/{username}")

    def set_password(self, service: str, username: str, password: str) -> None:
        data = self._load()
        data[f"{service}/{username}"] = password
        self._path().write_text(json.dumps(data))

    def delete_password(self, service: str, username: str) -> None:
        data = self._load()
        data.pop(f"{service}/{username}", None)
        self._path().write_text(json.dumps(data))


def test_keygen_and_sign_with_the_key_in_the_keyring(cli: Cli, home: Path) -> None:
    env = {"PYTHON_KEYRING_BACKEND": f"{__name__}.FileKeyring",
           "PYTHONPATH": os.pathsep.join([str(Path(__file__).parent),
                                          os.environ.get("PYTHONPATH", "")]),
           "MAILOPS_TEST_KEYRING": str(home / "keyring.json")}
    data = cli.ok("dkim", "keygen", "--domain", "example.test", "--selector", "kr",
                  "--keyring", "--json", env=env).json()
    assert data["storage"] == "keyring" and data["key"] == "keyring"
    assert not (home / "dkim" / "example.test" / "kr.key").exists()
    stored = json.loads((home / "keyring.json").read_text())
    assert "PRIVATE KEY" in stored["mailops-dkim/kr._domainkey.example.test"]
    signed = cli.ok("dkim", "sign", "-", input=MESSAGE, env=env).stdout_bytes
    assert b"s=kr;" in signed and signed.endswith(MESSAGE)
    # Without the keyring the key cannot be read: one line, the DKIM exit code.
    gone = cli("dkim", "sign", "-", input=MESSAGE,
               env={**env, "MAILOPS_TEST_KEYRING": str(home / "empty.json")})
    assert gone.code == 21 and "keyring has no key" in gone.err
