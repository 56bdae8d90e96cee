"""The rules for a new inbox: presets, custom servers, what is not supported yet, and the request's field checks."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from intake.config_api.errors import FieldError
from intake.config_api.inboxes import InboxCreate, NewInbox, resolve_inbox, status_state
from intake.config_api.providers import Encryption

PASSWORD = "pa55-word"


def request(**fields: Any) -> InboxCreate:
    return InboxCreate.model_validate({"provider": "zoho", "email": "desk@example.com", "password": PASSWORD} | fields)


def resolved(**fields: Any) -> NewInbox:
    result = resolve_inbox(request(**fields))
    assert isinstance(result, NewInbox), result
    return result


def problems(**fields: Any) -> dict[str, str]:
    result = resolve_inbox(request(**fields))
    assert isinstance(result, list), result
    return {str(error.loc[-1]): error.msg for error in result}


def test_preset_fills_server_settings() -> None:
    inbox = resolved()
    assert (inbox.hostname, inbox.port, inbox.encryption) == ("imap.zoho.com", 993, Encryption.SSL)
    assert inbox.username == "desk@example.com"
    assert inbox.password is not None
    assert inbox.password.get_secret_value() == PASSWORD


def test_given_values_win_over_the_preset() -> None:
    inbox = resolved(hostname="imappro.zoho.eu", port=1993, encryption="none", username="desk")
    assert (inbox.hostname, inbox.port, inbox.encryption, inbox.username) == ("imappro.zoho.eu", 1993, "none", "desk")


def test_custom_needs_hostname_and_port_and_defaults_to_ssl() -> None:
    assert problems(provider="custom") == {
        "hostname": "required when provider is 'custom'",
        "port": "required when provider is 'custom'",
    }
    inbox = resolved(provider="custom", hostname="mail.example.org", port=993)
    assert inbox.encryption is Encryption.SSL


def test_not_supported_yet() -> None:
    assert "not supported yet" in problems(encryption="tls")["encryption"]
    assert "not supported yet" in problems(auth="oauth2")["auth"]


@pytest.mark.parametrize("provider", ["gmail", "outlook"])
def test_gmail_and_outlook_need_oauth2(provider: str) -> None:
    assert problems(provider=provider) == {"auth": f"{provider} accepts only OAuth2 sign-in ('oauth2')"}


def test_password_auth_needs_a_password() -> None:
    assert problems(password=None) == {"password": "required when auth is 'password'"}


def test_every_problem_is_reported_at_once() -> None:
    result = resolve_inbox(request(provider="custom", encryption="tls", password=None))
    assert isinstance(result, list)
    assert [error.loc for error in result] == [
        ("body", "hostname"),
        ("body", "port"),
        ("body", "encryption"),
        ("body", "password"),
    ]
    assert all(isinstance(error, FieldError) for error in result)


def test_ignored_senders_are_trimmed_and_deduplicated() -> None:
    inbox = resolved(ignored_senders=[" @spam.example ", "@spam.example", "bot@example.com"])
    assert inbox.ignored_senders == ("@spam.example", "bot@example.com")


def test_oauth2_client_is_kept() -> None:
    inbox = resolved(oauth2={"client_id": "app", "tenant_id": "t", "client_secret": "cs"})
    assert (inbox.oauth2_client_id, inbox.oauth2_tenant_id) == ("app", "t")
    assert inbox.oauth2_client_secret is not None
    assert inbox.oauth2_client_secret.get_secret_value() == "cs"


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"email": "nobody"}, "email"),
        ({"port": 0}, "port"),
        ({"port": 65536}, "port"),
        ({"hostname": "bad host"}, "hostname"),
        ({"directory": "In\nbox"}, "directory"),
        ({"directory": ""}, "directory"),
        ({"encryption": "starttls"}, "encryption"),
        ({"ca_certificate": "not a pem"}, "ca_certificate"),
        ({"default_language": "english language"}, "default_language"),
        ({"poll_interval_seconds": 0}, "poll_interval_seconds"),
        ({"issue_type_id": 0}, "issue_type_id"),
        ({"ignored_senders": [""]}, "ignored_senders"),
        ({"password": ""}, "password"),
        ({"password": "x" * 5000}, "password"),
        ({"provider": "aol"}, "provider"),
        ({"colour": "red"}, "colour"),
    ],
)
def test_request_field_checks(fields: dict[str, Any], field: str) -> None:
    with pytest.raises(ValidationError) as caught:
        request(**fields)
    assert field in caught.value.errors()[0]["loc"]


def test_non_ascii_directory_is_accepted() -> None:
    assert resolved(directory="Posteingang/Bestätigt").directory == "Posteingang/Bestätigt"


def test_password_never_shows_in_the_request_repr() -> None:
    assert PASSWORD not in repr(request())
    assert PASSWORD not in repr(resolved())


def test_status_state() -> None:
    assert status_state(active=True) == "unknown"
    assert status_state(active=False) == "disabled"
