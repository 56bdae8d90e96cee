"""Encryption at rest for inbox secrets (passwords, client secrets, refresh tokens) under `INTAKE_SECRET_KEY`.

Fernet (AES-128-CBC with HMAC-SHA256) from `cryptography`: authenticated, so a wrong key or a
tampered value is an error, never garbage. Plain text never leaves this module except as the return
value of `decrypt`.
"""

from __future__ import annotations

from cryptography.fernet import Fernet, InvalidToken


class SecretDecryptionError(Exception):
    """A stored secret could not be decrypted: wrong `INTAKE_SECRET_KEY`, or the value was altered."""


class SecretBox:
    """Encrypts and decrypts secrets with one Fernet key."""

    def __init__(self, key: str) -> None:
        self._fernet = Fernet(key.encode("ascii"))

    def encrypt(self, plain: str) -> bytes:
        return self._fernet.encrypt(plain.encode("utf-8"))

    def decrypt(self, token: bytes) -> str:
        try:
            return self._fernet.decrypt(bytes(token)).decode("utf-8")
        except InvalidToken:
            raise SecretDecryptionError("stored secret cannot be decrypted with INTAKE_SECRET_KEY") from None

    @staticmethod
    def generate_key() -> str:
        return Fernet.generate_key().decode("ascii")
