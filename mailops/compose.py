"""Build outgoing messages: the stdlib `email` package does the MIME work.

Used by `mailops send` and, later, by the TUI's compose and reply. Addresses are
checked as typed; reading files is a build error (`SendError` exit 16) and bad
input a `UsageError` (2).
"""

from __future__ import annotations

import email.policy
import email.utils
import mimetypes
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.parser import BytesHeaderParser
from pathlib import Path
from typing import IO

from mailops.errors import SendError, UsageError

# 7-bit transfer encodings for built messages: deliverable through any server,
# with or without 8BITMIME.
_POLICY = email.policy.SMTP.clone(cte_type="7bit")
_POLICY_UTF8 = email.policy.SMTP.clone(cte_type="7bit", utf8=True)
_HEADER_NAME = re.compile(r"^[!-9;-~]+$")  # RFC 5322 ftext: printable ASCII but ':'
_BAD_ADDRESS = re.compile(r'[\s<>"]')
# Compressed files: mimetypes reports the wrapped type plus an encoding.
_COMPRESSED = {"gzip": "application/gzip", "bzip2": "application/x-bzip2",
               "xz": "application/x-xz"}


@dataclass
class Draft:
    """The parts of a message to build; addresses as the user typed them."""

    sender: str
    to: list[str] = field(default_factory=list)
    cc: list[str] = field(default_factory=list)
    bcc: list[str] = field(default_factory=list)
    subject: str | None = None
    body: str = ""
    attachments: list[Path] = field(default_factory=list)
    headers: list[str] = field(default_factory=list)


@dataclass
class Outgoing:
    """A message ready to send: its bytes and its SMTP envelope."""

    raw: bytes
    mail_from: str
    rcpt_to: list[str]
    message_id: str | None


def _plausible(addr: str, value: str) -> bool:
    local, at, domain = addr.rpartition("@")
    if not at:
        return addr.lower() == "postmaster"  # the one address RFC 5321 allows without a domain
    # getaddresses() quietly drops what it cannot parse ("x@y z" becomes "x@yz"), so
    # the address must appear as typed.
    return bool(local and domain) and not _BAD_ADDRESS.search(addr) and addr in value


def split_addresses(values: Sequence[str], flag: str,
                    skip_empty: bool = False) -> list[tuple[str, str]]:
    """(display name, address) pairs from repeatable, comma-separated address options.

    `skip_empty` ignores entries without an address (such as the group syntax
    "undisclosed-recipients:;" in a message's headers).
    """
    out: list[tuple[str, str]] = []
    for value in values:
        if not value.strip():
            continue
        for name, addr in email.utils.getaddresses([value]):
            if not addr and skip_empty:
                continue
            if not _plausible(addr, value):
                raise UsageError(f"{flag} {value!r}: not an email address")
            out.append((name, addr))
    return out


def parse_header(spec: str) -> tuple[str, str]:
    """Split `Name: value` and check it is one well-formed header line."""
    name, sep, value = spec.partition(":")
    name, value = name.strip(), value.strip()
    if not sep or not _HEADER_NAME.match(name):
        raise UsageError(f"--header {spec!r}: expected 'Name: value'")
    if "\r" in value or "\n" in value:
        raise UsageError(f"--header {name}: the value must be a single line")
    return name, value


def _read_file(path: Path, what: str) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise SendError(f"cannot read {what} {path}: {exc.strerror or exc}",
                        exit_code=SendError.BUILD) from None


def read_body(spec: str, stdin: IO[bytes]) -> str:
    """The body text for `--body`: literal TEXT, `@FILE`, or `-` for standard input."""
    if spec == "-":
        data, source = stdin.read(), "standard input"
    elif spec.startswith("@"):
        data, source = _read_file(Path(spec[1:]), "body file"), spec[1:]
    else:
        return spec
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise SendError(f"body from {source} is not UTF-8 text; send it with --attach",
                        exit_code=SendError.BUILD) from None


def _content_type(path: Path) -> tuple[str, str]:
    ctype, encoding = mimetypes.guess_type(path.name)
    if encoding is not None:
        ctype = _COMPRESSED.get(encoding, "application/octet-stream")
    # message/* parts may not be base64-encoded (RFC 2046 5.2.1), and base64 is what
    # keeps attachment bytes exact, so attached messages travel as opaque files.
    if ctype is None or ctype.startswith(("message/", "multipart/")):
        ctype = "application/octet-stream"
    maintype, _, subtype = ctype.partition("/")
    return maintype, subtype


def _format_address(pair: tuple[str, str]) -> str:
    name, addr = pair
    if addr.isascii():
        return email.utils.formataddr(pair)
    # formataddr() refuses non-ASCII addresses; SMTPUTF8 messages carry them as UTF-8.
    return f'"{email.utils.quote(name)}" <{addr}>' if name else addr


def _msgid_domain(address: str) -> str:
    domain = address.rpartition("@")[2].strip("[] ")
    return domain if domain and address.count("@") == 1 else "mailops.localhost"


def build_message(draft: Draft) -> Outgoing:
    """Build a MIME message (with Date and Message-ID) and its envelope.

    Bcc recipients go to the envelope only. `--header` values replace a header of
    the same name this function would set (repeat a name to add several).
    Raises SendError(BUILD) when an attachment cannot be read, UsageError for bad input.
    """
    senders = split_addresses([draft.sender], "--from")
    if len(senders) != 1:
        raise UsageError(f"--from {draft.sender!r}: expected exactly one address")
    to = split_addresses(draft.to, "--to")
    cc = split_addresses(draft.cc, "--cc")
    bcc = split_addresses(draft.bcc, "--bcc")
    rcpt_to = _unique([addr for _, addr in to + cc + bcc])
    if not rcpt_to:
        raise UsageError("no recipients: give --to, --cc or --bcc")
    mail_from = senders[0][1]
    utf8 = not all(a.isascii() for a in [mail_from, *rcpt_to])
    msg = EmailMessage(policy=_POLICY_UTF8 if utf8 else _POLICY)
    try:
        msg["From"] = _format_address(senders[0])
        if to:
            msg["To"] = ", ".join(_format_address(p) for p in to)
        if cc:
            msg["Cc"] = ", ".join(_format_address(p) for p in cc)
        if draft.subject is not None:
            msg["Subject"] = draft.subject
        msg["Date"] = email.utils.formatdate(localtime=True)
        # An explicit domain: the default calls socket.getfqdn(), which can stall on DNS.
        msg["Message-ID"] = email.utils.make_msgid(domain=_msgid_domain(mail_from))
        replaced: set[str] = set()
        for spec in draft.headers:
            name, value = parse_header(spec)
            if name.lower() not in replaced:
                del msg[name]
                replaced.add(name.lower())
            msg[name] = value
    except (ValueError, TypeError) as exc:
        raise UsageError(f"bad header: {exc}") from None
    msg.set_content(draft.body)
    for path in draft.attachments:
        data = _read_file(path, "attachment")
        maintype, subtype = _content_type(path)
        msg.add_attachment(data, maintype=maintype, subtype=subtype, filename=path.name)
    try:
        raw = msg.as_bytes()
    except (ValueError, TypeError, UnicodeError) as exc:
        raise SendError(f"cannot build the message: {exc}", exit_code=SendError.BUILD) from None
    message_id = msg.get("Message-ID")
    return Outgoing(raw, mail_from, rcpt_to, _strip_msgid(message_id))


def _strip_msgid(value: object) -> str | None:
    text = str(value).strip() if value is not None else ""
    return text.strip("<>") or None


def _unique(addresses: Sequence[str]) -> list[str]:
    seen: set[str] = set()
    out: list[str] = []
    for addr in addresses:
        if addr.lower() not in seen:
            seen.add(addr.lower())
            out.append(addr)
    return out


def load_eml(path: Path, sender: str | None = None,
             recipients: Sequence[str] = ()) -> Outgoing:
    """An existing message, sent as-is; the envelope from the flags, else its headers.

    `sender` and `recipients` are flag values (comma lists allowed). Without a
    sender the envelope sender is the message's Sender, else its From address;
    without recipients they are every To, Cc and Bcc address in it.
    """
    raw = _read_file(path, "message file")
    headers = BytesHeaderParser(policy=email.policy.compat32).parsebytes(raw)
    if sender is None:
        sender = str(headers.get("Sender") or headers.get("From") or "")
        where = f"--eml {path} (its From header)"
    else:
        where = "--from"
    found = split_addresses([sender], where)
    if len(found) != 1:
        raise UsageError(f"{path}: no single sender address in its From header; give --from"
                         if where != "--from" else f"--from {sender!r}: expected one address")
    mail_from = found[0][1]
    rcpt_to = [a for _, a in split_addresses(recipients, "--to/--cc/--bcc")]
    if not rcpt_to:
        values = [str(v) for name in ("To", "Cc", "Bcc") for v in headers.get_all(name, [])]
        rcpt_to = [a for _, a in split_addresses(values, f"--eml {path} (To/Cc/Bcc)",
                                                  skip_empty=True)]
    rcpt_to = _unique(rcpt_to)
    if not rcpt_to:
        raise UsageError(f"{path} has no To, Cc or Bcc address: give --to")
    return Outgoing(raw, mail_from, rcpt_to, _strip_msgid(headers.get("Message-ID")))
