"""Keys for encrypted stores (docs/security.md): where they come from and the marker.

An encrypted store has a small plaintext marker beside it, `<store>.encryption.json`,
saying which key source to use; it never holds a secret. Key sources:

- `keyring` (default): a random 256-bit key in the OS keyring, service "mailops",
  username `store-<id>` (the id is in the marker).
- `keyfile`: a random 256-bit key, hex, in a file readable by its owner only.
- `passphrase`: `$MAILOPS_PASSPHRASE` or a prompt; SQLCipher stretches it with
  PBKDF2-HMAC-SHA512 (256,000 iterations, a random salt per database file).

Raw keys skip SQLCipher's KDF (they are already uniformly random), so opening a
keyring or key-file store costs no more than one keyring lookup per process.
"""

from __future__ import annotations

import contextlib
import json
import os
import stat
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from types import ModuleType

from mailops.errors import StoreKeyError

KEYRING_SERVICE = "mailops"
PASSPHRASE_ENV = "MAILOPS_PASSPHRASE"
SOURCES = ("keyring", "keyfile", "passphrase")
CIPHER = "sqlcipher4-aes256"  # SQLCipher 4 defaults: AES-256-CBC, HMAC-SHA512 per page
_KEY_BYTES = 32

_cache: dict[str, Key] = {}  # per process: one keyring lookup, one prompt
_prompt: Callable[[str], str | None] | None = None


@dataclass(frozen=True)
class Key:
    """Key material for SQLCipher: 32 random bytes, or a passphrase it stretches."""

    raw: bytes | None = None
    passphrase: str | None = None

    def __repr__(self) -> str:  # never print a secret by accident
        return "Key(raw)" if self.raw is not None else "Key(passphrase)"


@dataclass(frozen=True)
class Marker:
    """The plaintext marker of an encrypted store: no secret, only where the key is."""

    key_source: str
    store_id: str
    key_file: str | None = None
    cipher: str = CIPHER
    version: int = 1

    def describe(self) -> str:
        """Where the key lives, for messages."""
        if self.key_source == "keyring":
            return f"OS keyring (service {KEYRING_SERVICE}, user {self.keyring_user})"
        if self.key_source == "keyfile":
            return f"key file {self.key_file}"
        return f"passphrase (${PASSPHRASE_ENV} or a prompt)"

    @property
    def keyring_user(self) -> str:
        """The keyring username holding this store's key."""
        return f"store-{self.store_id}"


def marker_path(db: Path) -> Path:
    """Where the marker of the database file `db` lives."""
    return Path(f"{db}.encryption.json")


def read_marker(db: Path) -> Marker | None:
    """The marker beside `db`, or None when `db` is a plain (unencrypted) store."""
    path = marker_path(db)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise StoreKeyError(f"cannot read {path}: {exc.strerror or exc}") from None
    try:
        data = json.loads(text)
        marker = Marker(key_source=str(data["key_source"]), store_id=str(data["store_id"]),
                        key_file=data.get("key_file"), cipher=str(data.get("cipher", CIPHER)),
                        version=int(data.get("version", 1)))
    except (ValueError, KeyError, TypeError):
        raise StoreKeyError(f"{path} is not a valid encryption marker") from None
    if marker.key_source not in SOURCES or marker.cipher != CIPHER:
        raise StoreKeyError(f"{path}: unknown key source or cipher "
                            f"({marker.key_source}, {marker.cipher})")
    return marker


def write_marker(db: Path, marker: Marker | None) -> None:
    """Write (or with None, remove) the marker beside `db`, atomically."""
    path = marker_path(db)
    if marker is None:
        path.unlink(missing_ok=True)
        return
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    tmp.write_text(json.dumps(asdict(marker), indent=2) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def set_prompt(prompt: Callable[[str], str | None] | None) -> None:
    """Install how to ask a person for a passphrase (the CLI does, on a terminal);
    it returns None when nobody can answer."""
    global _prompt
    _prompt = prompt


# -- creating keys (mailops init) ------------------------------------------------------


def new_marker(source: str, key_file: Path | None = None) -> Marker:
    """A marker for a new store with a fresh id."""
    if source not in SOURCES:
        raise StoreKeyError(f"unknown key source {source!r} (expected {', '.join(SOURCES)})")
    if source == "keyfile" and key_file is None:
        raise StoreKeyError("--key-source keyfile needs --key-file PATH")
    import uuid

    return Marker(source, uuid.uuid4().hex,
                  str(key_file.expanduser().resolve()) if key_file is not None else None)


def create_key(marker: Marker) -> tuple[Key, str]:
    """Make (or, for an existing key file, load) the key of a new store; returns it
    with a note on what was done. StoreKeyError when the source cannot be used."""
    import secrets  # lazy, like uuid: every CLI start imports this module

    if marker.key_source == "keyring":
        key = Key(raw=secrets.token_bytes(_KEY_BYTES))
        assert key.raw is not None
        keyring = _keyring()
        try:
            keyring.set_password(KEYRING_SERVICE, marker.keyring_user, key.raw.hex())
        except Exception as exc:  # backends raise anything (no D-Bus, locked, none)
            reason = str(exc).split(". ")[0]  # keyring's messages go on for a paragraph
            raise StoreKeyError(f"cannot store the key in the OS keyring ({reason}); use "
                                "--key-source keyfile or passphrase on a headless host") from None
        note = f"key stored in the {marker.describe()}"
    elif marker.key_source == "keyfile":
        assert marker.key_file is not None
        path = Path(marker.key_file)
        if path.exists():
            key, note = _read_key_file(path), f"using the existing key file {path}"
        else:
            key, note = _write_key_file(path), f"new key written to {path} (mode 0600)"
    else:
        key = _ask_passphrase(marker, confirm=True)
        note = "key derived from the passphrase (PBKDF2-HMAC-SHA512) by SQLCipher"
    _cache[marker.store_id] = key
    return key, note


def forget_key(marker: Marker) -> None:
    """Undo `create_key` for a store whose creation failed (keyring entries only:
    a key file may be shared, a passphrase is nowhere)."""
    _cache.pop(marker.store_id, None)
    if marker.key_source == "keyring":
        with contextlib.suppress(Exception):
            _keyring().delete_password(KEYRING_SERVICE, marker.keyring_user)


# -- finding keys (every open) ---------------------------------------------------------


def load_key(marker: Marker) -> Key:
    """The key of an encrypted store; StoreKeyError (one line) when it is missing."""
    cached = _cache.get(marker.store_id)
    if cached is not None:
        return cached
    if marker.key_source == "keyring":
        try:
            stored = _keyring().get_password(KEYRING_SERVICE, marker.keyring_user)
        except Exception as exc:  # no backend, locked, no D-Bus
            reason = str(exc).split(". ")[0]
            raise StoreKeyError(f"cannot read the store key from the OS keyring: {reason}"
                                ) from None
        if stored is None:
            raise StoreKeyError(f"no key for this store in the {marker.describe()}")
        key = Key(raw=_parse_hex(stored, "the keyring entry"))
    elif marker.key_source == "keyfile":
        assert marker.key_file is not None
        key = _read_key_file(Path(marker.key_file))
    else:
        key = _ask_passphrase(marker, confirm=False)
    _cache[marker.store_id] = key
    return key


def drop_cached(marker: Marker) -> None:
    """Forget a key that turned out wrong, so a retry asks again."""
    _cache.pop(marker.store_id, None)


def _keyring() -> ModuleType:
    """The keyring module."""
    import keyring  # lazy: backend discovery is slow and only encrypted stores need it

    return keyring


def _parse_hex(text: str, where: str) -> bytes:
    try:
        raw = bytes.fromhex(text.strip())
    except ValueError:
        raw = b""
    if len(raw) != _KEY_BYTES:
        raise StoreKeyError(f"{where} does not hold a 256-bit key (64 hex digits)")
    return raw


def _read_key_file(path: Path) -> Key:
    try:
        st = path.stat()
        if st.st_mode & 0o077:
            raise StoreKeyError(f"key file {path} is readable by others (mode "
                                f"{stat.S_IMODE(st.st_mode):04o}); run: chmod 600 {path}")
        text = path.read_text(encoding="ascii")
    except FileNotFoundError:
        raise StoreKeyError(f"key file {path} not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise StoreKeyError(f"cannot read key file {path}: {exc}") from None
    return Key(raw=_parse_hex(text, f"key file {path}"))


def _write_key_file(path: Path) -> Key:
    import secrets

    raw = secrets.token_bytes(_KEY_BYTES)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        # O_EXCL with mode 0600: the key is never readable by others, not even briefly.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="ascii") as fh:
            fh.write(raw.hex() + "\n")
            fh.flush()
            os.fsync(fh.fileno())
    except OSError as exc:
        raise StoreKeyError(f"cannot write key file {path}: {exc.strerror or exc}") from None
    return Key(raw=raw)


def _ask_passphrase(marker: Marker, *, confirm: bool) -> Key:
    text = os.environ.get(PASSPHRASE_ENV)
    if text is None and _prompt is not None:
        text = _prompt("Passphrase for the mail store: ")
        if text is not None and confirm and _prompt("Repeat the passphrase: ") != text:
            raise StoreKeyError("the passphrases differ")
        if text is not None:
            # Child processes (the daemon's indexer) open the store too.
            os.environ[PASSPHRASE_ENV] = text
    if text is None:
        raise StoreKeyError(f"this store is encrypted with a passphrase: set {PASSPHRASE_ENV} "
                            "or run in a terminal to be asked")
    if not text or "\x00" in text:
        raise StoreKeyError("the passphrase must not be empty or contain NUL")
    return Key(passphrase=text)


# -- creating a store (mailops init) ---------------------------------------------------


@dataclass(frozen=True)
class InitResult:
    """A store `init_store` created."""

    store: str
    encrypted: bool
    key_source: str | None
    note: str
    converted: bool = False  # an existing plain store was encrypted in place

    def as_dict(self) -> dict[str, object]:
        """JSON shape (docs/cli.md)."""
        return asdict(self)


def init_store(store_path: Path, *, encrypt: bool, source: str = "keyring",
               key_file: Path | None = None, convert: bool = False) -> InitResult:
    """Create a new, empty store, encrypted (SQLCipher) with a key from `source`;
    with `convert`, encrypt the existing plain store instead.

    Refuses (StoreError) when a store or its marker already exists (unless
    `convert` and it is plain). On failure nothing is left behind (no marker, no
    new database, no keyring entry) and an existing store is untouched.
    """
    from mailops.errors import StoreError
    from mailops.store import Store

    for path in (store_path, marker_path(store_path)):
        if path.exists():
            existing = read_marker(store_path)
            if convert and encrypt and existing is None:
                return _convert(store_path, source, key_file)
            kind = f"encrypted, key in the {existing.describe()}" if existing else "not encrypted"
            hint = "" if existing else "; --encrypt --convert encrypts it in place"
            raise StoreError(f"a mail store already exists at {store_path} ({kind}){hint}")
    if not encrypt:
        Store(store_path).close()
        return InitResult(str(store_path), False, None, "not encrypted")
    marker = new_marker(source, key_file)
    _key, note = create_key(marker)
    try:
        store_path.parent.mkdir(parents=True, exist_ok=True)
        write_marker(store_path, marker)  # first: the store is never opened without it
        Store(store_path).close()
    except BaseException:
        for suffix in ("", "-wal", "-shm", "-journal"):
            Path(f"{store_path}{suffix}").unlink(missing_ok=True)
        write_marker(store_path, None)
        forget_key(marker)
        raise
    return InitResult(str(store_path), True, source, note)


def _convert(store_path: Path, source: str, key_file: Path | None) -> InitResult:
    """Encrypt the plain store at `store_path` in place (its messages, index, tags)."""
    import sqlite3

    from mailops.errors import RestoreRefused, StoreError
    from mailops.store import Store
    from mailops.store.crypto import connect, encrypt_copy

    with Store(store_path) as store:  # brings it to the current schema first
        version = store.schema_version()
    marker = new_marker(source, key_file)
    key, note = create_key(marker)
    tmp = store_path.with_name(f".{store_path.name}.encrypt-{os.getpid()}")
    swapped = False

    def swap(count: int) -> None:  # called with the plain store locked
        nonlocal swapped
        with contextlib.closing(connect(tmp, marker=marker, find_marker=False)) as db:
            check = str(db.execute("PRAGMA quick_check").fetchone()[0])
            copied = int(db.execute("SELECT count(*) FROM messages").fetchone()[0])
        if check != "ok" or copied != count:
            raise StoreError(f"the encrypted copy does not check out ({check}, {copied} "
                             "messages); the plain store is unchanged")
        write_marker(store_path, marker)
        os.replace(tmp, store_path)
        note_parts.append(f"the existing store ({count} messages) was encrypted in place")
        swapped = True

    note_parts = [note]
    try:
        encrypt_copy(store_path, tmp, key, version, swap)
    except sqlite3.OperationalError as exc:
        _undo(store_path, tmp, marker, swapped)
        if "locked" in str(exc) or "busy" in str(exc):
            raise RestoreRefused(f"{store_path} is in use by another process (a running "
                                 "`mailops serve`?); stop it and retry") from None
        raise StoreError(f"cannot encrypt {store_path}: {exc}") from None
    except BaseException:
        _undo(store_path, tmp, marker, swapped)
        raise
    for suffix in ("-wal", "-shm", "-journal"):  # the plain store's, if any were left
        Path(f"{store_path}{suffix}").unlink(missing_ok=True)
    return InitResult(str(store_path), True, source, "; ".join(note_parts), converted=True)


def _undo(store_path: Path, tmp: Path, marker: Marker, swapped: bool) -> None:
    """A failed conversion: drop the copy, and the marker unless the swap happened."""
    for suffix in ("", "-journal"):
        Path(f"{tmp}{suffix}").unlink(missing_ok=True)
    if not swapped:
        write_marker(store_path, None)
        forget_key(marker)
