"""Who may call the API: the admin token (`INTAKE_ADMIN_TOKEN`) or an issued API token.

Pure. The admin token is compared in constant time, so response timing reveals nothing about it.
Issued tokens are `intake_` and 256 random bits in URL-safe base64; only their SHA-256 is stored,
and a presented token is looked up by that digest (an index lookup leaks nothing useful about a hash
of a random value). `prefix` is what lists show, to tell tokens apart.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass

TOKEN_PREFIX = "intake_"  # noqa: S105 -- the fixed start of every issued token, not a secret
TOKEN_BYTES = 32
# `intake_` and the first 6 random characters: enough to recognise a token, far too little to guess it.
SHOWN_PREFIX_LENGTH = len(TOKEN_PREFIX) + 6


def token_matches(presented: str | None, expected: str) -> bool:
    """Whether `presented` is `expected`, compared in constant time."""
    if presented is None:
        return False
    return hmac.compare_digest(presented.encode("utf-8"), expected.encode("utf-8"))


@dataclass(frozen=True)
class IssuedToken:
    token: str  # shown once, to the client that asked for it
    prefix: str
    digest: bytes  # stored


def token_digest(token: str) -> bytes:
    return hashlib.sha256(token.encode("utf-8")).digest()


def issue_token() -> IssuedToken:
    token = TOKEN_PREFIX + secrets.token_urlsafe(TOKEN_BYTES)
    return IssuedToken(token, token[:SHOWN_PREFIX_LENGTH], token_digest(token))


def may_be_issued_token(presented: str) -> bool:
    """Whether `presented` has the shape of an issued token (anything else needs no database lookup).

    >>> may_be_issued_token(issue_token().token), may_be_issued_token("intake_"), may_be_issued_token("x" * 50)
    (True, False, False)
    """
    return presented.startswith(TOKEN_PREFIX) and 32 <= len(presented) - len(TOKEN_PREFIX) <= 64
