"""ISO 639-1: the two-letter codes, checked and normalised."""

from __future__ import annotations

import pytest

from intake.config_api.languages import LANGUAGES, normalise_language


def test_the_list_is_iso_639_1() -> None:
    assert len(LANGUAGES) == 183
    assert all(len(code) == 2 and code.isascii() and code.islower() for code in LANGUAGES)
    assert list(LANGUAGES) == sorted(LANGUAGES)
    assert {"en": "English", "de": "German", "zh": "Chinese", "nb": "Norwegian Bokmål"}.items() <= LANGUAGES.items()
    assert "sh" not in LANGUAGES  # withdrawn


@pytest.mark.parametrize(("value", "code"), [("en", "en"), ("FR", "fr"), (" it ", "it")])
def test_codes_in_any_case(value: str, code: str) -> None:
    assert normalise_language(value) == code


@pytest.mark.parametrize("value", ["", "e", "eng", "en-GB", "xx", "English", "é"])
def test_anything_else_is_no_language(value: str) -> None:
    assert normalise_language(value) is None
