"""TSIG key files for RFC 2136 updates, in the formats the usual tools write:

- BIND's `tsig-keygen` (`key "NAME" { algorithm ALG; secret "BASE64"; };`),
- Knot's `keymgr -t` (YAML `id:`, `algorithm:`, `secret:` under `key:`),
- the one-line `[ALGORITHM:]NAME:SECRET` that `kdig -y` and `nsupdate -y` take.

Turned into a dnspython keyring; dnspython does the signing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import dns.name
import dns.tsig
import dns.tsigkeyring

from mailops.errors import UsageError

_BIND = re.compile(r'key\s+"?([^"\s{]+)"?\s*\{(.*?)\}\s*;', re.S)
_BIND_FIELD = re.compile(r'(algorithm|secret)\s+"?([^";\s]+)"?\s*;')
_YAML_FIELD = re.compile(r"^\s*-?\s*(id|algorithm|secret)\s*:\s*(\S+)\s*$", re.M)
DEFAULT_ALGORITHM = "hmac-sha256"


@dataclass(frozen=True)
class TsigKey:
    """A TSIG key: name, algorithm and base64 secret."""

    name: str
    algorithm: str
    secret: str

    def keyring(self) -> dict[dns.name.Name, dns.tsig.Key]:
        """A dnspython keyring holding this key (for `UpdateMessage(keyring=...)`)."""
        ring: dict[dns.name.Name, dns.tsig.Key] = dns.tsigkeyring.from_text(
            {self.name: (self.algorithm, self.secret)})
        return ring

    @property
    def keyname(self) -> dns.name.Name:
        """The key's name as a DNS name."""
        return dns.name.from_text(self.name)


def parse_tsig_text(text: str, where: str = "TSIG key") -> TsigKey:
    """Read a key in any of the supported formats; UsageError if none matches."""
    bind = _BIND.search(text)
    if bind:
        fields = dict(_BIND_FIELD.findall(bind.group(2)))
        if "secret" in fields:
            return _checked(bind.group(1), fields.get("algorithm", DEFAULT_ALGORITHM),
                            fields["secret"], where)
    yaml = dict(_YAML_FIELD.findall(text))
    if "id" in yaml and "secret" in yaml:
        return _checked(yaml["id"], yaml.get("algorithm", DEFAULT_ALGORITHM), yaml["secret"],
                        where)
    for raw in text.splitlines():
        line = raw.strip().lstrip("#").strip()
        parts = line.split(":")
        if len(parts) == 2 and parts[0] and parts[1] and " " not in line:
            return _checked(parts[0], DEFAULT_ALGORITHM, parts[1], where)
        if len(parts) == 3 and all(parts) and " " not in line:
            return _checked(parts[1], parts[0], parts[2], where)
    raise UsageError(f"{where}: no TSIG key found (expected a BIND or Knot key file, "
                     "or ALGORITHM:NAME:SECRET)")


def read_tsig_file(path: Path) -> TsigKey:
    """Read a TSIG key file; UsageError when missing or not a key."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"--tsig-key-file {path}: {exc.strerror or exc}") from None
    return parse_tsig_text(text, str(path))


def _checked(name: str, algorithm: str, secret: str, where: str) -> TsigKey:
    key = TsigKey(name.rstrip(".") + ".", algorithm.lower(), secret)
    try:
        key.keyring()
    except Exception as exc:  # dnspython raises binascii/ValueError/NotImplemented kinds
        raise UsageError(f"{where}: bad TSIG key: {exc}") from None
    return key
