"""The single exception hierarchy of mailops.

Every error the engine raises on purpose is a `MailopsError`. Each area has its own
subclass carrying the process exit code the CLI uses, so scripts can tell a usage
problem from a missing message from a network failure. The codes are documented
in docs/exit-codes.md and must stay stable.
"""

from __future__ import annotations


class MailopsError(Exception):
    """Base class: a one-line, user-facing message and an exit code."""

    exit_code = 1

    def __init__(self, message: str, *, exit_code: int | None = None) -> None:
        super().__init__(message)
        if exit_code is not None:
            self.exit_code = exit_code

    @property
    def message(self) -> str:
        """The one-line message shown to the user."""
        return str(self.args[0]) if self.args else type(self).__name__


class UsageError(MailopsError):
    """Bad options or arguments given by the user."""

    exit_code = 2


class ConfigError(MailopsError):
    """The config file or an environment variable is invalid."""

    exit_code = 3


class StoreError(MailopsError):
    """The mail store cannot be opened, read or written."""

    exit_code = 4


class StoreOutdated(StoreError):
    """A read-only open found a store from an older mailops (schema migrations pending)."""


class NotFoundError(StoreError):
    """A message (or other stored object) does not exist."""

    exit_code = 5


class ImportFailed(MailopsError):
    """A file or folder given to import cannot be read."""

    exit_code = 6


class ServeError(MailopsError):
    """The receive daemon cannot start or be controlled (port in use, bad TLS files)."""

    exit_code = 7


class TimeoutExpired(MailopsError):
    """A wait ran out of time before its condition held."""

    exit_code = 8


class BackupError(MailopsError):
    """A backup file is missing, unreadable, corrupt or fails verification, or a
    backup cannot be written."""

    exit_code = 9


class AuditError(MailopsError):
    """`mailops audit` cannot run at all (unreadable domain list, no usable resolver).

    Exit code 2, like a usage error: the issue's contract for cron and CI is 0 clean,
    1 findings, 2 the audit itself did not run.
    """

    exit_code = 2


class RestoreRefused(MailopsError):
    """`restore` will not replace the store: it holds messages (no --force) or another
    process (a running daemon) has it open."""

    exit_code = 20


class SendError(MailopsError):
    """Sending failed; the exit code tells at which SMTP stage.

    10 connect, 11 TLS, 12 auth, 13 MAIL FROM, 14 RCPT TO, 15 DATA, 16 message build.
    """

    exit_code = 10

    CONNECT = 10
    TLS = 11
    AUTH = 12
    MAIL = 13
    RCPT = 14
    DATA = 15
    BUILD = 16


class DkimError(MailopsError):
    """A DKIM key is missing, unreadable or cannot be stored, signing failed, or a key
    lookup failed (timeout, SERVFAIL: not the same as a missing key)."""

    exit_code = 21


class DkimRotateError(DkimError):
    """A DKIM rotation step failed: the dynamic update was refused, the new key never
    became visible on the authoritative server, or the rotation state is inconsistent."""

    exit_code = 22


class StoreKeyError(StoreError):
    """An encrypted store's key is missing or wrong (keyring entry, key file or
    passphrase; see docs/security.md). Nothing was read or modified."""

    exit_code = 24
