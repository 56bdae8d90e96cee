"""The rules for an inbox: presets, custom servers, OAuth2, the request's field checks, PATCH merging, shown health."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr, ValidationError

from intake.config_api.errors import FieldError
from intake.config_api.inbox_requests import InboxCreate, InboxPatch
from intake.config_api.inbox_resolution import KEEP, ResolvedInbox, resolve_create, resolve_patch
from intake.config_api.inbox_settings import StoredInbox, shown_state
from intake.shared.inbox_vocabulary import Encryption

PASSWORD = "pa55-word"
CA_PEM = (Path(__file__).parent / "ca.pem").read_text()


def request(**fields: Any) -> InboxCreate:
    return InboxCreate.model_validate({"provider": "zoho", "email": "desk@example.com", "password": PASSWORD} | fields)


def resolved(**fields: Any) -> ResolvedInbox:
    result = resolve_create(request(**fields))
    assert isinstance(result, ResolvedInbox), result
    return result


def problems(**fields: Any) -> dict[str, str]:
    result = resolve_create(request(**fields))
    assert isinstance(result, list), result
    return {".".join(map(str, error.loc[1:])): error.msg for error in result}


def field_errors(model: type[InboxCreate | InboxPatch], body: dict[str, Any]) -> dict[str, str]:
    with pytest.raises(ValidationError) as caught:
        model.model_validate(body)
    return {".".join(map(str, error["loc"])): error["msg"] for error in caught.value.errors()}


def test_preset_fills_server_settings() -> None:
    inbox = resolved().settings
    assert (inbox.hostname, inbox.port, inbox.encryption) == ("imap.zoho.com", 993, Encryption.SSL)
    assert inbox.username == "desk@example.com"
    password = resolved().password
    assert isinstance(password, SecretStr)
    assert password.get_secret_value() == PASSWORD


def test_a_named_provider_fixes_its_server_settings() -> None:
    assert problems(hostname="imappro.zoho.eu", port=1993, encryption="none") == {
        "hostname": "is fixed to imap.zoho.com for provider 'zoho'; use provider 'custom' to choose another",
        "port": "is fixed to 993 for provider 'zoho'; use provider 'custom' to choose another",
        "encryption": "is fixed to ssl for provider 'zoho'; use provider 'custom' to choose another",
    }


def test_a_named_provider_accepts_its_own_values_sent_back() -> None:
    inbox = resolved(hostname="imap.zoho.com", port=993, encryption="ssl", username="desk").settings
    assert (inbox.hostname, inbox.port, inbox.encryption, inbox.username) == ("imap.zoho.com", 993, "ssl", "desk")


def test_custom_needs_hostname_and_port_and_defaults_to_ssl() -> None:
    assert problems(provider="custom") == {
        "hostname": "required when provider is 'custom'",
        "port": "required when provider is 'custom'",
    }
    assert resolved(provider="custom", hostname="mail.example.org", port=993).settings.encryption is Encryption.SSL


@pytest.mark.parametrize("encryption", ["ssl", "tls", "none"])
def test_custom_takes_any_encryption(encryption: str) -> None:
    inbox = resolved(provider="custom", hostname="mail.example.org", port=143, encryption=encryption).settings
    assert inbox.encryption == encryption


@pytest.mark.parametrize("provider", ["gmail", "outlook"])
def test_gmail_and_outlook_need_oauth2(provider: str) -> None:
    assert problems(provider=provider) == {"auth": f"{provider} accepts only OAuth2 sign-in ('oauth2')"}


def test_oauth2_needs_a_client_id() -> None:
    assert problems(provider="gmail", auth="oauth2", password=None) == {
        "oauth2.client_id": "required when auth is 'oauth2'"
    }
    inbox = resolved(provider="gmail", auth="oauth2", password=None, oauth2={"client_id": "app.apps.googleusercontent"})
    assert inbox.settings.oauth2_client_id == "app.apps.googleusercontent"
    assert inbox.password is None


def test_microsoft_oauth2_needs_a_tenant() -> None:
    assert problems(provider="outlook", auth="oauth2", oauth2={"client_id": "app"}) == {
        "oauth2.tenant_id": "required for provider 'outlook' with auth 'oauth2' (the Microsoft tenant)"
    }
    inbox = resolved(provider="outlook", auth="oauth2", oauth2={"client_id": "app", "tenant_id": "contoso"})
    assert (inbox.settings.hostname, inbox.settings.oauth2_tenant_id) == ("outlook.office365.com", "contoso")


def test_password_auth_needs_a_password() -> None:
    assert problems(password=None) == {"password": "required when auth is 'password'"}


def test_every_problem_is_reported_at_once() -> None:
    result = resolve_create(request(provider="custom", auth="oauth2", password=None))
    assert isinstance(result, list)
    assert [error.loc for error in result] == [("body", "hostname"), ("body", "port"), ("body", "oauth2", "client_id")]
    assert all(isinstance(error, FieldError) for error in result)


def test_ignored_senders_are_trimmed_lowered_and_deduplicated() -> None:
    inbox = resolved(ignored_senders=[" @Spam.example ", "@spam.example", "Bot@Example.com"]).settings
    assert inbox.ignored_senders == ("@spam.example", "bot@example.com")


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ("", "must be an address or a part of one"),
        ("@", "must be an address or a part of one"),
        ("two words@example.com", "must not contain spaces"),
        ("a@b.example, c@d.example", "must not contain spaces"),
        ("a@b.example;c@d.example", "without separators"),
        ("<a@b.example>", "without separators"),
        ("a@b@c.example", "at most one '@'"),
        ("bell\x07@example.com", "control characters"),
    ],
)
def test_malformed_ignored_sender_names_the_entry(entry: str, message: str) -> None:
    errors = field_errors(InboxCreate, {"provider": "zoho", "email": "a@b.example", "ignored_senders": ["ok", entry]})
    assert list(errors) == ["ignored_senders.1"]
    assert message in errors["ignored_senders.1"]


def test_languages_are_iso_639_1_codes() -> None:
    assert resolved(default_language=" DE ").settings.default_language == "de"
    for bad in ("de-CH", "english", "xx", "deu", ""):
        errors = field_errors(InboxCreate, {"provider": "zoho", "email": "a@b.example", "default_language": bad})
        assert "ISO 639-1" in errors["default_language"], bad


def test_ca_certificate_must_be_a_readable_pem() -> None:
    assert resolved(ca_certificate=CA_PEM).settings.ca_certificate == CA_PEM
    base = {"provider": "zoho", "email": "a@b.example"}
    not_pem = field_errors(InboxCreate, base | {"ca_certificate": "hello"})
    assert "must be a PEM certificate" in not_pem["ca_certificate"]
    damaged = CA_PEM.replace(CA_PEM.splitlines()[3], "AAAA" * 16)
    broken = field_errors(InboxCreate, base | {"ca_certificate": damaged})
    assert "not a readable PEM certificate" in broken["ca_certificate"]
    empty = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"
    assert (
        "not a readable PEM certificate"
        in field_errors(InboxCreate, base | {"ca_certificate": empty})["ca_certificate"]
    )


def test_oauth2_client_is_kept() -> None:
    inbox = resolved(oauth2={"client_id": "app", "tenant_id": "t", "client_secret": "cs"})
    assert (inbox.settings.oauth2_client_id, inbox.settings.oauth2_tenant_id) == ("app", "t")
    assert isinstance(inbox.client_secret, SecretStr)
    assert inbox.client_secret.get_secret_value() == "cs"


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"email": "nobody"}, "email"),
        ({"email": "no\x00body@example.com"}, "email"),
        ({"username": "log\x00in"}, "username"),
        ({"oauth2": {"client_id": "app\nid"}}, "client_id"),
        ({"ca_certificate": CA_PEM + "\x00"}, "ca_certificate"),
        ({"port": 0}, "port"),
        ({"port": 65536}, "port"),
        ({"port": "imap"}, "port"),
        ({"hostname": "bad host"}, "hostname"),
        ({"directory": "In\nbox"}, "directory"),
        ({"directory": ""}, "directory"),
        ({"encryption": "starttls"}, "encryption"),
        ({"auth": "kerberos"}, "auth"),
        ({"processed_action": "archive"}, "processed_action"),
        ({"unmatched_action": "bounce"}, "unmatched_action"),
        ({"poll_interval_seconds": 0}, "poll_interval_seconds"),
        ({"issue_type_id": 0}, "issue_type_id"),
        ({"assigned_user_id": -1}, "assigned_user_id"),
        ({"assigned_organisation_id": 2**63}, "assigned_organisation_id"),
        ({"first_fetch": "some"}, "first_fetch"),
        ({"password": ""}, "password"),
        ({"password": "x" * 5000}, "password"),
        ({"provider": "aol"}, "provider"),
        ({"oauth2": {"client_id": ""}}, "client_id"),
        ({"oauth2": {"secret": "x"}}, "secret"),
        ({"colour": "red"}, "colour"),
    ],
)
def test_request_field_checks(fields: dict[str, Any], field: str) -> None:
    with pytest.raises(ValidationError) as caught:
        request(**fields)
    assert field in caught.value.errors()[0]["loc"]


def test_non_ascii_directory_is_accepted() -> None:
    assert resolved(directory="Posteingang/Bestätigt").settings.directory == "Posteingang/Bestätigt"


def test_password_never_shows_in_the_request_repr() -> None:
    assert PASSWORD not in repr(request())
    assert PASSWORD not in repr(resolved())


# PATCH


def stored(**fields: Any) -> StoredInbox:
    inbox = resolved(**fields)
    return StoredInbox(inbox.settings, password_set=inbox.password is not None, client_secret_set=False)


def patched(current: StoredInbox, **fields: Any) -> ResolvedInbox:
    result = resolve_patch(current, InboxPatch.model_validate(fields))
    assert isinstance(result, ResolvedInbox), result
    return result


def patch_problems(current: StoredInbox, **fields: Any) -> dict[str, str]:
    result = resolve_patch(current, InboxPatch.model_validate(fields))
    assert isinstance(result, list), result
    return {".".join(map(str, error.loc[1:])): error.msg for error in result}


def test_patch_changes_only_what_is_sent_and_keeps_secrets() -> None:
    current = stored(ignored_senders=["@spam.example"], default_language="en")
    result = patched(current, poll_interval_seconds=300)
    assert result.settings == dataclasses.replace(current.settings, poll_interval_seconds=300)
    assert result.password is KEEP
    assert result.client_secret is KEEP


def test_patch_sets_and_clears_secrets() -> None:
    current = stored()
    new = patched(current, password="new-one", oauth2={"client_secret": "cs"})
    assert isinstance(new.password, SecretStr)
    assert new.password.get_secret_value() == "new-one"
    assert isinstance(new.client_secret, SecretStr)
    cleared = patched(current, oauth2={"client_secret": None})
    assert cleared.client_secret is None
    assert cleared.password is KEEP


def test_patch_cannot_clear_the_password_of_a_password_inbox() -> None:
    assert patch_problems(stored(), password=None) == {"password": "required when auth is 'password'"}


def test_patch_to_oauth2_may_clear_the_password() -> None:
    result = patched(stored(), auth="oauth2", oauth2={"client_id": "app"}, password=None)
    assert result.password is None
    assert result.settings.oauth2_client_id == "app"


def test_patch_oauth2_null_clears_the_client() -> None:
    current = stored(oauth2={"client_id": "app", "tenant_id": "t", "client_secret": "cs"})
    result = patched(current, oauth2=None)
    assert (result.settings.oauth2_client_id, result.settings.oauth2_tenant_id) == (None, None)
    assert result.client_secret is None


def test_patch_oauth2_fields_left_out_are_kept() -> None:
    current = stored(oauth2={"client_id": "app", "tenant_id": "t"})
    assert patched(current, oauth2={"tenant_id": "u"}).settings.oauth2_client_id == "app"


def test_patch_provider_change_applies_the_new_preset() -> None:
    custom = stored(provider="custom", hostname="mail.example.org", port=143, encryption="tls")
    to_yahoo = patched(custom, provider="yahoo", password=PASSWORD).settings
    assert (to_yahoo.hostname, to_yahoo.port, to_yahoo.encryption) == ("imap.mail.yahoo.com", 993, "ssl")
    back = patched(StoredInbox(to_yahoo, True, False), provider="custom", port=1143, password=PASSWORD).settings
    assert (back.hostname, back.port, back.encryption) == ("imap.mail.yahoo.com", 1143, "ssl")


def test_patch_of_a_named_provider_cannot_move_its_server() -> None:
    assert patch_problems(stored(), port=143) == {
        "port": "is fixed to 993 for provider 'zoho'; use provider 'custom' to choose another"
    }


def test_patch_custom_server_fields() -> None:
    custom = stored(provider="custom", hostname="mail.example.org", port=143)
    assert patched(custom, hostname="imap.example.org", password=PASSWORD).settings.hostname == "imap.example.org"
    assert patch_problems(custom, hostname=None) == {"hostname": "required when provider is 'custom'"}


@pytest.mark.parametrize(
    ("fields", "changed"),
    [
        (
            {"provider": "custom", "hostname": "attacker.example", "port": 143, "encryption": "none"},
            "hostname, port, encryption",
        ),
        ({"provider": "zoho"}, "provider, hostname"),
        ({"hostname": "attacker.example"}, "hostname"),
        ({"port": 1993}, "port"),
        ({"encryption": "tls"}, "encryption"),
        ({"ca_certificate": CA_PEM}, "ca_certificate"),
        ({"username": "someone-else"}, "username"),
    ],
)
def test_patch_moving_the_server_needs_the_password_again(fields: dict[str, Any], changed: str) -> None:
    custom = stored(provider="custom", hostname="mail.example.org", port=993)
    assert patch_problems(custom, **fields) == {
        "password": f"re-enter the password when changing the server ({changed}), or send null to clear it"
    }
    again = patched(custom, **fields, password="typed-again")
    assert isinstance(again.password, SecretStr)
    assert again.drop_refresh_token


def test_patch_sending_the_server_back_unchanged_keeps_the_password() -> None:
    custom = stored(provider="custom", hostname="mail.example.org", port=993, username="desk")
    result = patched(
        custom, provider="custom", hostname="mail.example.org", port=993, encryption="ssl", username="desk"
    )
    assert result.password is KEEP
    assert not result.drop_refresh_token
    assert patched(custom, email="other@example.com", directory="Support").password is KEEP


def test_patch_moving_the_server_may_clear_the_password_instead() -> None:
    custom = stored(provider="custom", hostname="mail.example.org", port=993, oauth2={"client_id": "app"})
    result = patched(custom, hostname="imap.example.org", auth="oauth2", password=None)
    assert result.password is None


def oauth2_stored(**oauth2: Any) -> StoredInbox:
    inbox = resolved(
        provider="outlook",
        auth="oauth2",
        password=None,
        oauth2={"client_id": "app", "tenant_id": "contoso", "client_secret": "cs"} | oauth2,
    )
    return StoredInbox(inbox.settings, password_set=False, client_secret_set=True)


@pytest.mark.parametrize(
    ("fields", "changed"),
    [
        ({"oauth2": {"client_id": "their-app"}}, "oauth2.client_id"),
        ({"oauth2": {"tenant_id": "their-tenant"}}, "oauth2.tenant_id"),
        ({"provider": "gmail", "oauth2": {"tenant_id": None}}, "provider, oauth2.tenant_id"),
    ],
)
def test_patch_moving_the_oauth2_client_needs_the_client_secret_again(fields: dict[str, Any], changed: str) -> None:
    current = oauth2_stored()
    assert patch_problems(current, **fields)["oauth2.client_secret"] == (
        f"re-enter the client secret when changing the OAuth2 client ({changed}), or send null to clear it"
    )
    with_secret = fields | {"oauth2": fields["oauth2"] | {"client_secret": "typed-again"}}
    result = patched(current, **with_secret)
    assert isinstance(result.client_secret, SecretStr)
    assert result.drop_refresh_token


def test_patch_of_the_oauth2_server_drops_the_grant_and_other_edits_keep_it() -> None:
    current = oauth2_stored()
    assert patched(current, ca_certificate=CA_PEM).drop_refresh_token
    assert patched(current, username="other@contoso.example").drop_refresh_token
    kept = patched(current, poll_interval_seconds=30, oauth2={"client_id": "app"})
    assert not kept.drop_refresh_token
    assert kept.client_secret is KEEP


def test_patch_null_clears_optional_settings_and_refuses_required_ones() -> None:
    current = stored(default_language="en", ca_certificate=CA_PEM, issue_type_id=1)
    result = patched(current, default_language=None, ca_certificate=None, issue_type_id=None, password=PASSWORD)
    assert (result.settings.default_language, result.settings.ca_certificate, result.settings.issue_type_id) == (
        None,
        None,
        None,
    )
    assert patch_problems(current, email=None, active=None, ignored_senders=None) == {
        "active": "must not be null",
        "email": "must not be null",
        "ignored_senders": "must not be null",
    }


def test_patch_to_gmail_needs_oauth2() -> None:
    assert patch_problems(stored(), provider="gmail") == {"auth": "gmail accepts only OAuth2 sign-in ('oauth2')"}


def test_patch_field_checks_are_those_of_create() -> None:
    assert "ISO 639-1" in field_errors(InboxPatch, {"default_language": "xx"})["default_language"]
    assert "at most one '@'" in field_errors(InboxPatch, {"ignored_senders": ["a@b@c"]})["ignored_senders.0"]
    assert "port" in field_errors(InboxPatch, {"port": 70000})
    assert "id" in field_errors(InboxPatch, {"id": 3})


def test_shown_state() -> None:
    assert shown_state(active=True, reported=None) == "unknown"
    assert shown_state(active=True, reported="ok") == "ok"
    assert shown_state(active=True, reported="needs_reauth") == "needs_reauth"
    assert shown_state(active=True, reported="disabled") == "unknown"
    assert shown_state(active=False, reported="error") == "disabled"
    assert shown_state(active=False, reported=None) == "disabled"
