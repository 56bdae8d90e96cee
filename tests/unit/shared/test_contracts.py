"""The bus contracts: JSON schemas pinned, so a change of contract is a deliberate, reviewed change.

To accept a deliberate change: bump `schema_version`, then `uv run python -m tests.unit.shared.test_contracts`.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from pydantic import BaseModel, ValidationError

from intake.shared import batched_events
from intake.shared.contracts import (
    FetchedBatch,
    InboxChanged,
    InboxStatus,
    IssueEvent,
    MessageFetched,
    MessageProcessed,
    Outcome,
    ProcessedBatch,
)

PINNED = Path(__file__).with_name("contract_schemas")
CONTRACTS: list[type[BaseModel]] = [
    MessageFetched,
    MessageProcessed,
    FetchedBatch,
    ProcessedBatch,
    InboxStatus,
    InboxChanged,
    IssueEvent,
]


def schema_text(model: type[BaseModel]) -> str:
    return json.dumps(model.model_json_schema(), indent=2, sort_keys=True) + "\n"


@pytest.mark.parametrize("model", CONTRACTS, ids=lambda m: m.__name__)
def test_json_schema_is_pinned(model: type[BaseModel]) -> None:
    pinned = (PINNED / f"{model.__name__}.json").read_text()
    assert schema_text(model) == pinned, f"{model.__name__} changed: bump schema_version and re-pin"


def fetched(**changes: object) -> MessageFetched:
    values: dict[str, object] = {
        "inbox_id": 1,
        "uidvalidity": 7,
        "uid": 42,
        "raw_sha256": "a" * 64,
        "size": 10,
        "fetched_at": datetime(2026, 1, 1, tzinfo=UTC),
    }
    values.update(changes)
    return MessageFetched.model_validate(values)


def test_round_trip_through_json() -> None:
    event = fetched(subject="Printer [#4]", sender="a@example.com")
    assert MessageFetched.model_validate_json(event.model_dump_json()) == event
    assert event.schema_version == 3


def test_contracts_are_frozen() -> None:
    event = fetched()
    with pytest.raises(ValidationError):
        event.uid = 43  # type: ignore[misc]


@pytest.mark.parametrize(
    "changes",
    [{"uid": 0}, {"uidvalidity": 2**32}, {"raw_sha256": "xyz"}, {"unknown_field": 1}, {"schema_version": 4}],
    ids=["uid-zero", "uidvalidity-too-big", "bad-sha", "extra-field", "future-version"],
)
def test_invalid_events_are_refused(changes: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        fetched(**changes)


@pytest.mark.parametrize(
    ("outcome", "stored"),
    [
        (Outcome.ISSUE_CREATED, True),
        (Outcome.ISSUE_UPDATED, True),
        (Outcome.DUPLICATE, False),
        (Outcome.IGNORED_SENDER, False),
        (Outcome.UNMATCHED_IGNORED, False),
        (Outcome.AUTO_GENERATED, False),
        (Outcome.REJECTED, False),
        (Outcome.FAILED, False),
    ],
)
def test_mailbox_action_only_for_messages_kept_on_an_issue(outcome: Outcome, stored: bool) -> None:
    assert outcome.stored_on_issue is stored


def test_processed_needs_a_known_outcome() -> None:
    with pytest.raises(ValidationError):
        MessageProcessed.model_validate(
            {
                "inbox_id": 1,
                "uidvalidity": 1,
                "uid": 1,
                "raw_sha256": "b" * 64,
                "outcome": "maybe",
                "reason": "",
                "attempts": 1,
                "processed_at": "2026-01-01T00:00:00Z",
            }
        )


def processed(uid: int) -> MessageProcessed:
    return MessageProcessed(
        inbox_id=1,
        uidvalidity=1,
        uid=uid,
        raw_sha256="b" * 64,
        outcome=Outcome.ISSUE_CREATED,
        reason="new issue",
        issue_number=uid,
        attempts=1,
        processed_at=datetime(2026, 12, 6, tzinfo=UTC),
    )


def test_a_batch_of_outcomes_reads_back_in_order_with_correlation_ids() -> None:
    batch = ProcessedBatch.model_validate(
        {"messages": [{"processed": processed(3), "correlation_id": "c3"}, {"processed": processed(1)}]}
    )
    assert [(e.uid, c) for e, c in batched_events.processed(batch.model_dump_json().encode(), "ignored")] == [
        (3, "c3"),
        (1, None),
    ]
    assert [e.uid for e in batched_events.outcomes(processed(5).model_dump_json().encode())] == [5]


@pytest.mark.parametrize(
    "body",
    [
        b'{"messages": []}',
        b'{"messages": [{"correlation_id": "c"}]}',
        b'{"schema_version": 2, "messages": [{"processed": {}}]}',
        b'{"outcome": "issue_created"}',
        b"[]",
        b"not json",
    ],
    ids=["empty-batch", "entry-without-outcome", "future-batch-version", "half-an-outcome", "array", "not-json"],
)
def test_a_processed_body_that_is_neither_shape_is_refused(body: bytes) -> None:
    with pytest.raises(ValidationError):
        batched_events.outcomes(body)


def test_a_batch_of_fetched_messages_reads_back_in_order_and_a_lone_one_travels_as_itself() -> None:
    one, two = fetched(uid=1), fetched(uid=2)
    event, correlation = batched_events.fetched_message([(one, "c1"), (two, None)])
    assert isinstance(event, FetchedBatch)
    assert correlation is None
    body = event.model_dump_json().encode()
    assert [(e.uid, c) for e, c in batched_events.fetched(body, "ignored")] == [(1, "c1"), (2, None)]
    assert batched_events.fetched_message([(one, "c1")]) == (one, "c1")
    assert batched_events.fetched(one.model_dump_json().encode(), "c1") == [(one, "c1")]


def test_a_batch_is_never_mistaken_for_one_outcome() -> None:
    body = ProcessedBatch.model_validate({"messages": [{"processed": processed(2)}]}).model_dump_json().encode()
    with pytest.raises(ValidationError):
        MessageProcessed.model_validate_json(body)
    with pytest.raises(ValidationError):
        ProcessedBatch.model_validate_json(processed(2).model_dump_json().encode())


@pytest.mark.parametrize("version", [1, 2])
def test_earlier_fetched_events_are_still_read(version: int) -> None:
    event = fetched(schema_version=version)
    assert event.rejected is None
    assert event.replay is False
    assert event.received_at is None


def test_inbox_status_needs_a_known_state() -> None:
    with pytest.raises(ValidationError):
        InboxStatus.model_validate(
            {"inbox_id": 1, "state": "sleepy", "consecutive_failures": 0, "reported_at": "2026-01-01T00:00:00Z"}
        )


if __name__ == "__main__":
    for contract in CONTRACTS:
        (PINNED / f"{contract.__name__}.json").write_text(schema_text(contract))
