"""DKIM key pairs (made with `cryptography`) and their public TXT record (RFC 6376 3.6.1,
RFC 8463 for ed25519), built as dnspython rdata so quoting and the 255-byte string
split are right."""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass
from typing import Literal

import dns.name
import dns.rdataclass
import dns.rdatatype
import dns.rdtypes.ANY.TXT
import dns.rrset
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

from mailops.errors import DkimError, UsageError

KeyType = Literal["rsa", "ed25519"]
KEY_TYPES: tuple[KeyType, ...] = ("rsa", "ed25519")
RSA_SIZES = (1024, 2048, 3072, 4096)
_SELECTOR = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9_-]*[A-Za-z0-9])?"
                       r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9_-]*[A-Za-z0-9])?)*")
_LABEL = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?")


def check_domain(domain: str) -> str:
    """The domain lower-cased without a final dot; UsageError unless it is a host name.

    The name becomes a directory name, so only plain LDH labels are accepted.
    """
    text = domain.strip().rstrip(".").lower()
    labels = text.split(".")
    if len(labels) < 2 or len(text) > 253 or not all(_LABEL.fullmatch(x) for x in labels):
        raise UsageError(f"invalid domain {domain!r}: expected a name like example.com")
    return text


def check_selector(selector: str) -> str:
    """The selector as given; UsageError unless it is one or more DNS labels."""
    if len(selector) > 63 or not _SELECTOR.fullmatch(selector):
        raise UsageError(f"invalid selector {selector!r}: use letters, digits, '-', '_', '.'")
    return selector


def record_name(domain: str, selector: str) -> dns.name.Name:
    """`SELECTOR._domainkey.DOMAIN.`, where the public key is published."""
    return dns.name.from_text(f"{selector}._domainkey.{domain}")


def generate_private_key(key_type: KeyType, bits: int = 2048) -> bytes:
    """A new private key as PKCS#8 PEM (unencrypted: it is kept with 0600 permissions)."""
    key: rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey
    if key_type == "rsa":
        if bits not in RSA_SIZES:
            raise UsageError(f"--bits {bits}: expected one of {', '.join(map(str, RSA_SIZES))}")
        key = rsa.generate_private_key(public_exponent=65537, key_size=bits)
    elif key_type == "ed25519":
        key = ed25519.Ed25519PrivateKey.generate()
    else:
        raise UsageError(f"--type {key_type}: expected rsa or ed25519")
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def load_private_key(pem: bytes) -> rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey:
    """Parse a PEM private key; DkimError if it is not an RSA or ed25519 key."""
    try:
        key = serialization.load_pem_private_key(pem, password=None)
    except (ValueError, TypeError) as exc:
        raise DkimError(f"cannot read the DKIM private key: {exc}") from None
    if not isinstance(key, rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey):
        raise DkimError("the DKIM private key is neither RSA nor ed25519")
    return key


@dataclass(frozen=True)
class KeyInfo:
    """What a private key is: its type, size and public-key TXT text."""

    key_type: KeyType
    bits: int
    txt: str  # "v=DKIM1; k=rsa; p=..."


def key_info(pem: bytes) -> KeyInfo:
    """The key's type, size and the TXT text publishing its public half."""
    key = load_private_key(pem)
    if isinstance(key, rsa.RSAPrivateKey):
        # p= is the DER SubjectPublicKeyInfo, base64 (RFC 6376 3.6.1).
        der = key.public_key().public_bytes(serialization.Encoding.DER,
                                            serialization.PublicFormat.SubjectPublicKeyInfo)
        return KeyInfo("rsa", key.key_size, f"v=DKIM1; k=rsa; p={base64.b64encode(der).decode()}")
    raw = key.public_key().public_bytes(serialization.Encoding.Raw,
                                        serialization.PublicFormat.Raw)
    # RFC 8463: p= is the raw 32-byte public key, base64.
    return KeyInfo("ed25519", 256, f"v=DKIM1; k=ed25519; p={base64.b64encode(raw).decode()}")


def dkimpy_private_key(pem: bytes) -> tuple[bytes, bytes]:
    """The key in the form dkimpy's `sign` takes, and the signature algorithm.

    dkimpy reads RSA keys as PKCS#1 PEM and ed25519 keys as the base64 32-byte seed.
    """
    key = load_private_key(pem)
    if isinstance(key, rsa.RSAPrivateKey):
        return (key.private_bytes(serialization.Encoding.PEM,
                                  serialization.PrivateFormat.TraditionalOpenSSL,
                                  serialization.NoEncryption()), b"rsa-sha256")
    seed = key.private_bytes(serialization.Encoding.Raw, serialization.PrivateFormat.Raw,
                             serialization.NoEncryption())
    return base64.b64encode(seed), b"ed25519-sha256"


def txt_rdata(text: str) -> dns.rdtypes.ANY.TXT.TXT:
    """A TXT rdata holding `text`, cut into strings of at most 255 bytes (RFC 1035 3.3)."""
    data = text.encode("ascii")
    chunks = [data[i:i + 255] for i in range(0, len(data), 255)] or [b""]
    return dns.rdtypes.ANY.TXT.TXT(dns.rdataclass.IN, dns.rdatatype.TXT, chunks)


def txt_text(rdata: dns.rdtypes.ANY.TXT.TXT) -> str:
    """The strings of a TXT rdata joined, as DKIM reads them (RFC 6376 3.6.2.2)."""
    return b"".join(rdata.strings).decode("ascii", "replace")


def revoked_txt(key_type: KeyType) -> str:
    """The TXT text of a revoked key: an empty p= (RFC 6376 3.6.1)."""
    return f"v=DKIM1; k={key_type}; p="


def zone_line(name: dns.name.Name, ttl: int, rdata: dns.rdtypes.ANY.TXT.TXT) -> str:
    """One zone-file line (absolute owner name) for the record."""
    return str(dns.rrset.from_rdata(name, ttl, rdata).to_text())


def parse_tags(text: str) -> dict[str, str]:
    """DKIM tag=value pairs of a key record (RFC 6376 3.2); whitespace is dropped."""
    tags: dict[str, str] = {}
    for part in text.split(";"):
        name, sep, value = part.partition("=")
        if sep:
            tags[name.strip()] = "".join(value.split())
    return tags
