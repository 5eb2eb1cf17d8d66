"""Where DKIM keys live: `DATA/dkim/DOMAIN/SELECTOR.key` (PKCS#8 PEM, mode 0600) or the
OS keyring, with `SELECTOR.json` beside it describing the key (never the secret), and
`DATA/dkim/active.json` naming the selector `dkim sign` uses for each domain."""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from mailops.dkim.keys import KeyType, check_domain, check_selector, key_info
from mailops.errors import DkimError

KEYRING_SERVICE = "mailops-dkim"


@dataclass(frozen=True)
class StoredKey:
    """A key's description as saved in SELECTOR.json."""

    domain: str
    selector: str
    key_type: KeyType
    bits: int
    storage: str  # "file" or "keyring"
    created: float
    txt: str

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready fields."""
        return asdict(self)


def dkim_dir(data_dir: Path) -> Path:
    """The directory holding every DKIM key and state file."""
    return data_dir / "dkim"


def key_file(data_dir: Path, domain: str, selector: str) -> Path:
    """The private key file of a selector (when kept in a file)."""
    return dkim_dir(data_dir) / check_domain(domain) / f"{check_selector(selector)}.key"


def _meta_file(data_dir: Path, domain: str, selector: str) -> Path:
    return key_file(data_dir, domain, selector).with_suffix(".json")


def write_private(path: Path, data: bytes, mode: int = 0o600) -> None:
    """Write a file atomically with `mode` from its creation (never briefly readable)."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def _keyring_user(domain: str, selector: str) -> str:
    return f"{selector}._domainkey.{domain}"


def save_key(data_dir: Path, domain: str, selector: str, pem: bytes, *,
             use_keyring: bool = False) -> StoredKey:
    """Keep a new private key (a file, or the keyring) and its description.

    Refuses (DkimError) when the selector already has a key: replacing a published
    key would break the signatures made with it.
    """
    domain, selector = check_domain(domain), check_selector(selector)
    meta = _meta_file(data_dir, domain, selector)
    if meta.exists() or key_file(data_dir, domain, selector).exists():
        raise DkimError(f"a key for selector {selector} of {domain} exists ({meta.parent}); "
                        "pick a new selector (keys are rotated, never replaced)")
    info = key_info(pem)
    if use_keyring:
        _keyring_set(_keyring_user(domain, selector), pem.decode("ascii"))
    else:
        write_private(key_file(data_dir, domain, selector), pem)
    stored = StoredKey(domain, selector, info.key_type, info.bits,
                       "keyring" if use_keyring else "file", time.time(), info.txt)
    write_private(meta, json.dumps(stored.as_dict(), indent=2).encode(), 0o644)
    return stored


def describe_key(data_dir: Path, domain: str, selector: str) -> StoredKey | None:
    """The saved description of a key, or None when the selector has none."""
    meta = _meta_file(data_dir, domain, selector)
    try:
        data = json.loads(meta.read_text(encoding="utf-8"))
        return StoredKey(**data)
    except FileNotFoundError:
        return None
    except (OSError, ValueError, TypeError) as exc:
        raise DkimError(f"cannot read {meta}: {exc}") from None


def load_key(data_dir: Path, domain: str, selector: str) -> bytes:
    """The PEM private key of a selector; DkimError when there is none."""
    domain, selector = check_domain(domain), check_selector(selector)
    stored = describe_key(data_dir, domain, selector)
    if stored is not None and stored.storage == "keyring":
        pem = _keyring_get(_keyring_user(domain, selector))
        if pem is None:
            raise DkimError(f"the keyring has no key for {_keyring_user(domain, selector)}")
        return pem.encode("ascii")
    path = key_file(data_dir, domain, selector)
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise DkimError(f"no DKIM key for selector {selector} of {domain}; make one with "
                        f"`mailops dkim keygen --domain {domain} --selector {selector}`"
                        ) from None
    except OSError as exc:
        raise DkimError(f"cannot read {path}: {exc}") from None


def _keyring_set(user: str, secret: str) -> None:
    import keyring  # lazy: backend discovery is slow

    try:
        keyring.set_password(KEYRING_SERVICE, user, secret)
    except Exception as exc:  # backends raise anything (no D-Bus, locked, none)
        raise DkimError(f"cannot store the key in the keyring: {exc}") from None


def _keyring_get(user: str) -> str | None:
    import keyring

    try:
        return keyring.get_password(KEYRING_SERVICE, user)
    except Exception as exc:
        raise DkimError(f"cannot read the key from the keyring: {exc}") from None


# --- the active selector -------------------------------------------------------------


def _active_file(data_dir: Path) -> Path:
    return dkim_dir(data_dir) / "active.json"


def active_selectors(data_dir: Path) -> dict[str, str]:
    """Domain -> the selector `dkim sign` uses (set by keygen --activate and rotate)."""
    path = _active_file(data_dir)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        raise DkimError(f"cannot read {path}: {exc}") from None
    if not isinstance(data, dict):
        raise DkimError(f"{path}: expected a JSON object")
    return {str(k): str(v) for k, v in data.items()}


def set_active_selector(data_dir: Path, domain: str, selector: str) -> None:
    """Make `selector` the one `dkim sign` uses for `domain` (atomic replace)."""
    domain, selector = check_domain(domain), check_selector(selector)
    active = active_selectors(data_dir)
    active[domain] = selector
    write_private(_active_file(data_dir), json.dumps(active, indent=2, sort_keys=True).encode(),
                  0o644)
