"""The retention settings: defaults, and the dedupe keys never outlived by the fetcher's records."""

from __future__ import annotations

import pytest

from intake.shared.settings import RetentionSettings, SettingsError, load_settings


def test_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("FETCHER_RETENTION_DAYS", "INGESTOR_OUTCOME_RETENTION_DAYS", "BLOB_GRACE_SECONDS"):
        monkeypatch.delenv(f"INTAKE_{name}", raising=False)
    settings = load_settings(RetentionSettings)
    assert (settings.fetcher_retention_days, settings.ingestor_outcome_retention_days) == (30, 90)
    assert (settings.blob_grace_seconds, settings.cleanup_interval_seconds) == (3600, 3600)


@pytest.mark.parametrize(
    ("fetcher", "outcomes", "valid"),
    [
        ("30", "30", True),
        ("30", "90", True),
        ("30", "0", True),
        ("0", "0", True),
        ("30", "29", False),
        ("0", "90", False),
    ],
)
def test_dedupe_keys_are_kept_at_least_as_long_as_the_fetchers_records(
    monkeypatch: pytest.MonkeyPatch, fetcher: str, outcomes: str, valid: bool
) -> None:
    monkeypatch.setenv("INTAKE_FETCHER_RETENTION_DAYS", fetcher)
    monkeypatch.setenv("INTAKE_INGESTOR_OUTCOME_RETENTION_DAYS", outcomes)
    if valid:
        load_settings(RetentionSettings)
    else:
        with pytest.raises(SettingsError, match=r"INTAKE_INGESTOR_OUTCOME_RETENTION_DAYS .* must be 0 .* or at least"):
            load_settings(RetentionSettings)


def test_a_negative_retention_names_the_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("INTAKE_FETCHER_RETENTION_DAYS", "-1")
    with pytest.raises(SettingsError, match="INTAKE_FETCHER_RETENTION_DAYS is invalid"):
        load_settings(RetentionSettings)
