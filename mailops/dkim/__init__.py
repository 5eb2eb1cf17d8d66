"""DKIM: key generation and storage, signing and verifying with dkimpy, and key
rotation through RFC 2136 dynamic updates (docs/dkim.md).

Modules: `keys` (make keys, the TXT record), `keystore` (where keys and the active
selector live), `lookup` (TXT queries with dnspython), `signing` (dkimpy),
`tsig` (TSIG key files), `rotate` (the resumable rotation).
"""
