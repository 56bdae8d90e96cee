"""The API's shapes: the email log's outcomes follow the contract, and responses have no secret fields."""

from __future__ import annotations

from intake.config_api.email_log_schemas import EmailLogEntry, LogOutcome
from intake.config_api.schemas import Inbox
from intake.shared.contracts import Outcome


def test_log_outcomes_are_pending_plus_the_contract_outcomes() -> None:
    assert [o.value for o in LogOutcome] == ["pending", *(o.value for o in Outcome)]


def test_inbox_response_has_no_secret_fields() -> None:
    fields = set(Inbox.model_fields)
    assert {"password_set", "client_secret_set"} <= fields
    assert not {"password", "client_secret", "password_encrypted", "refresh_token"} & fields


def test_email_log_row_fields_are_exactly_the_designed_ones() -> None:
    schema = EmailLogEntry.model_json_schema(by_alias=True)
    assert list(schema["properties"]) == [
        "id",
        "inbox_id",
        "uidvalidity",
        "uid",
        "message_id",
        "from",
        "subject",
        "size",
        "fetched_at",
        "processed_at",
        "outcome",
        "reason",
        "issue_number",
        "attempts",
    ]
