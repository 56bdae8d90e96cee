"""Bearer token comparison and issued API tokens."""

from __future__ import annotations

import hashlib

import pytest

from intake.config_api.auth import TOKEN_PREFIX, issue_token, may_be_issued_token, token_digest, token_matches

TOKEN = "s3cr3t-token-of-some-length"


@pytest.mark.parametrize(
    ("presented", "ok"),
    [(TOKEN, True), (None, False), ("", False), (TOKEN[:-1], False), (TOKEN + "x", False), (TOKEN.upper(), False)],
)
def test_token_matches(presented: str | None, ok: bool) -> None:
    assert token_matches(presented, TOKEN) is ok


def test_non_ascii_tokens_compare_without_error() -> None:
    assert token_matches("jeton-été", "jeton-été")
    assert not token_matches("jeton-été", TOKEN)


def test_issued_tokens_are_random_and_only_their_digest_is_kept() -> None:
    first, second = issue_token(), issue_token()
    assert first.token != second.token
    assert first.token.startswith(TOKEN_PREFIX)
    assert len(first.token) == len(TOKEN_PREFIX) + 43  # 32 random bytes in URL-safe base64
    assert first.token.startswith(first.prefix)
    assert len(first.prefix) == len(TOKEN_PREFIX) + 6
    assert first.digest == hashlib.sha256(first.token.encode()).digest() == token_digest(first.token)
    assert first.token.encode() not in first.digest


@pytest.mark.parametrize(
    ("presented", "shaped"),
    [("intake_" + "a" * 43, True), ("intake_" + "a" * 10, False), ("a" * 50, False), ("intake_" + "a" * 65, False)],
)
def test_only_token_shaped_values_are_looked_up(presented: str, shaped: bool) -> None:
    assert may_be_issued_token(presented) is shaped
