"""Bearer token comparison."""

from __future__ import annotations

import pytest

from intake.config_api.auth import token_matches

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
