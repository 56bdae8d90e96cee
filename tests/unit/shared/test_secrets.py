"""Secrets at rest: authenticated encryption, several keys while rotating, and re-encryption with the newest."""

from __future__ import annotations

import pytest

from intake.shared.secrets import SecretBox, SecretDecryptionError

NEW, OLD, OTHER = SecretBox.generate_key(), SecretBox.generate_key(), SecretBox.generate_key()


def test_round_trip_and_no_plain_text() -> None:
    box = SecretBox(NEW)
    token = box.encrypt("hunter2 ünïcode")
    assert b"hunter2" not in token
    assert box.decrypt(token) == "hunter2 ünïcode"


def test_wrong_key_or_tampering_is_an_error() -> None:
    token = SecretBox(NEW).encrypt("s")
    with pytest.raises(SecretDecryptionError):
        SecretBox(OTHER).decrypt(token)
    tampered = token[:-2] + (b"A" if token[-2:-1] != b"A" else b"B") + token[-1:]
    with pytest.raises(SecretDecryptionError):
        SecretBox(NEW).decrypt(tampered)


def test_several_keys_encrypt_with_the_first_and_decrypt_with_any() -> None:
    old_token = SecretBox(OLD).encrypt("old secret")
    rotating = SecretBox(f"{NEW}, {OLD}")
    assert rotating.decrypt(old_token) == "old secret"
    new_token = rotating.encrypt("new secret")
    assert SecretBox(NEW).decrypt(new_token) == "new secret"
    with pytest.raises(SecretDecryptionError):
        SecretBox(OLD).decrypt(new_token)


def test_rotate_re_encrypts_with_the_first_key() -> None:
    old_token = SecretBox(OLD).encrypt("pw")
    rotated = SecretBox(f"{NEW},{OLD}").rotate(old_token)
    assert SecretBox(NEW).decrypt(rotated) == "pw"
    with pytest.raises(SecretDecryptionError):
        SecretBox(f"{NEW},{OTHER}").rotate(old_token)
