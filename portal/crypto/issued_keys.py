"""Portal-issued API keys: `{tenant_slug}_sk_` + 256 random bits, kept only as a keyed hash.

The hash is HMAC-SHA256 under the server's API_KEY_SECRET: a leaked table gives nothing to try
offline, and a presented key is found in O(1) by its hash. The slug in the key is a hint for
people; only the hash decides which key (and so which tenant) a request belongs to.
"""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass

KEY_MARKER = "_sk_"
RANDOM_BYTES = 32  # 256 bits (at least 192 are required)
PREFIX_RANDOM_CHARS = 4
MAX_KEY_LENGTH = 200


@dataclass(frozen=True)
class NewKey:
    secret: str  # shown once, never stored
    digest: str  # hex HMAC-SHA256, stored and looked up
    prefix: str  # "{slug}_sk_" plus the first random characters: shown in listings
    last_four: str


def key_digest(secret: str, server_secret: str) -> str:
    return hmac.digest(server_secret.encode(), secret.encode(), "sha256").hex()


def new_issued_key(tenant_slug: str, server_secret: str) -> NewKey:
    secret = f"{tenant_slug}{KEY_MARKER}{secrets.token_urlsafe(RANDOM_BYTES)}"
    return NewKey(
        secret=secret,
        digest=key_digest(secret, server_secret),
        prefix=secret[: len(tenant_slug) + len(KEY_MARKER) + PREFIX_RANDOM_CHARS],
        last_four=secret[-4:],
    )


def looks_like_issued_key(value: str) -> bool:
    """Cheap shape check before hashing: a marker, printable, and not absurdly long."""
    return KEY_MARKER in value and len(value) <= MAX_KEY_LENGTH and value.isascii() and value.isprintable()
