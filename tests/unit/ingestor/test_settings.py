"""settings.IngestorSettings: the INTAKE_* variables it reads and its defaults."""

from __future__ import annotations

import pytest

from intake.ingestor.limits import AttachmentLimits
from intake.ingestor.settings import IngestorSettings
from intake.shared.settings import SettingsError, load_settings


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (
        "DATABASE_URL",
        "AMQP_URL",
        "LOG_LEVEL",
        "INGESTOR_PREFETCH",
        "INGESTOR_MAX_ATTACHMENT_BYTES",
        "INGESTOR_MAX_MESSAGE_ATTACHMENT_BYTES",
        "DELIVERY_LIMIT",
        "SECRET_KEY",
        "SUBJECT_TAG_PATTERN",
        "INGESTOR_DATABASE_WAIT_SECONDS",
    ):
        monkeypatch.delenv(f"INTAKE_{name}", raising=False)


def test_defaults_need_no_secret_key() -> None:
    settings = load_settings(IngestorSettings)
    assert settings.ingestor_prefetch == 32
    assert settings.delivery_limit == 5
    assert settings.log_level == "info"
    assert settings.ingestor_database_wait_seconds == 600
    assert settings.subject_tag.search("Re: Printer [ACME #42]") is not None


def test_reads_its_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("INTAKE_DATABASE_URL", "postgresql://db/intake")
    monkeypatch.setenv("INTAKE_INGESTOR_PREFETCH", "4")
    monkeypatch.setenv("INTAKE_DELIVERY_LIMIT", "9")
    settings = load_settings(IngestorSettings)
    assert settings.database_url.get_secret_value() == "postgresql://db/intake"
    assert (settings.ingestor_prefetch, settings.delivery_limit) == (4, 9)


def test_invalid_value_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("INTAKE_DELIVERY_LIMIT", "0")
    with pytest.raises(SettingsError, match=r"^INTAKE_DELIVERY_LIMIT is invalid"):
        load_settings(IngestorSettings)


def test_attachment_limits(monkeypatch: pytest.MonkeyPatch) -> None:
    assert load_settings(IngestorSettings).attachment_limits() == AttachmentLimits(26_214_400, 52_428_800)
    monkeypatch.setenv("INTAKE_INGESTOR_MAX_ATTACHMENT_BYTES", "1000")
    monkeypatch.setenv("INTAKE_INGESTOR_MAX_MESSAGE_ATTACHMENT_BYTES", "5000")
    assert load_settings(IngestorSettings).attachment_limits() == AttachmentLimits(1000, 5000)


def test_subject_tag_pattern_is_a_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("INTAKE_SUBJECT_TAG_PATTERN", r"\(case (?P<number>\d+)\)")
    settings = load_settings(IngestorSettings)
    found = settings.subject_tag.search("Re: (case 9) help")
    assert found is not None
    assert found["number"] == "9"


@pytest.mark.parametrize(
    ("pattern", "why"),
    [(r"\[#(\d+)\]", "has no named group `number`"), (r"\[#(?P<number>", "not a regular expression")],
)
def test_invalid_subject_tag_pattern_names_the_variable(
    monkeypatch: pytest.MonkeyPatch, pattern: str, why: str
) -> None:
    monkeypatch.setenv("INTAKE_SUBJECT_TAG_PATTERN", pattern)
    with pytest.raises(SettingsError, match=r"^INTAKE_SUBJECT_TAG_PATTERN is invalid") as error:
        load_settings(IngestorSettings)
    assert why in str(error.value)
