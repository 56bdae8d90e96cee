"""Encryption at rest for inbox secrets (passwords, client secrets, refresh tokens) under `INTAKE_SECRET_KEY`.

Fernet (AES-128-CBC with HMAC-SHA256) from `cryptography`: authenticated, so a wrong key or a
tampered value is an error, never garbage. `INTAKE_SECRET_KEY` may hold several keys separated by
commas, newest first (MultiFernet): a secret is encrypted with the first and decrypted with any, so
keys can be rotated without downtime (`intake-config-api rotate-secrets` re-encrypts everything with
the first). Plain text never leaves this module except as the return value of `decrypt`.
"""

from __future__ import annotations

from cryptography.fernet import Fernet, InvalidToken, MultiFernet


class SecretDecryptionError(Exception):
    """A stored secret could not be decrypted: wrong `INTAKE_SECRET_KEY`, or the value was altered."""


def split_keys(value: str) -> list[str]:
    """The keys in an `INTAKE_SECRET_KEY` value: comma-separated, newest first, spaces around each ignored.

    >>> split_keys(" new , old ")
    ['new', 'old']
    """
    return [key.strip() for key in value.split(",")]


class SecretBox:
    """Encrypts with the first of one or more Fernet keys and decrypts with any of them."""

    def __init__(self, keys: str) -> None:
        self._fernet = MultiFernet([Fernet(key.encode("ascii")) for key in split_keys(keys)])

    def encrypt(self, plain: str) -> bytes:
        return self._fernet.encrypt(plain.encode("utf-8"))

    def decrypt(self, token: bytes) -> str:
        try:
            return self._fernet.decrypt(bytes(token)).decode("utf-8")
        except InvalidToken:
            raise SecretDecryptionError("stored secret cannot be decrypted with INTAKE_SECRET_KEY") from None

    def rotate(self, token: bytes) -> bytes:
        """`token` re-encrypted with the first key (whichever key it was encrypted with)."""
        try:
            return self._fernet.rotate(bytes(token))
        except InvalidToken:
            raise SecretDecryptionError("stored secret cannot be decrypted with any key in INTAKE_SECRET_KEY") from None

    @staticmethod
    def generate_key() -> str:
        return Fernet.generate_key().decode("ascii")
