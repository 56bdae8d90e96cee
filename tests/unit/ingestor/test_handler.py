"""handler.MessageFetchedHandler with hand-written fakes: when it acks, requeues, dead-letters, publishes,
and how it waits for an unreachable database instead of using up deliveries."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from intake.ingestor.database_watch import Wait
from intake.ingestor.errors import DatabaseUnavailable
from intake.ingestor.handler import MAX_RETRIES_WITHOUT_OUTAGE, MessageFetchedHandler
from intake.ingestor.metrics import IngestorMetrics
from intake.ingestor.results import Result
from intake.shared import topology
from intake.shared.contracts import IssueEvent, IssueEventKind, MessageFetched, MessageProcessed, Outcome
from tests.fakes.publisher import FakePublisher

SHA = "a" * 64
FETCHED = MessageFetched(
    inbox_id=1,
    uidvalidity=7,
    uid=9,
    raw_sha256=SHA,
    size=10,
    fetched_at=datetime.now(UTC),
    received_at=datetime.now(UTC) - timedelta(seconds=30),
)
DONE = MessageProcessed(
    inbox_id=1,
    uidvalidity=7,
    uid=9,
    raw_sha256=SHA,
    outcome=Outcome.ISSUE_CREATED,
    reason="created",
    issue_number=1,
    attempts=1,
    processed_at=datetime.now(UTC),
)
EVENT = IssueEvent(
    kind=IssueEventKind.CREATED,
    issue_number=1,
    inbox_id=1,
    message_id="<m@x>",
    title="Printer on fire",
    occurred_at=DONE.processed_at,
)


class FakeMessage:
    def __init__(self, body: bytes, headers: dict[str, Any] | None = None) -> None:
        self.body = body
        self.headers = headers or {}
        self.settled: list[tuple[str, bool]] = []

    async def ack(self) -> None:
        self.settled.append(("ack", False))

    async def nack(self, requeue: bool = True) -> None:
        self.settled.append(("nack", requeue))

    async def reject(self, requeue: bool = False) -> None:
        self.settled.append(("reject", requeue))


def unconfirmed() -> FakePublisher:
    """A publisher none of whose publishes the handler makes is confirmed (RabbitMQ gone)."""
    return FakePublisher(failing={topology.MESSAGE_PROCESSED, topology.ISSUE_CREATED, topology.ISSUE_UPDATED})


def sent(publisher: FakePublisher) -> list[tuple[str, dict[str, Any]]]:
    """Each confirmed publish as (routing key, the event as JSON), in order."""
    return [(key, json.loads(event.model_dump_json())) for event, key, _, _ in publisher.published]


def mandatory_flags(publisher: FakePublisher) -> list[bool]:
    return [mandatory for _, _, mandatory, _ in publisher.published]


def correlations(publisher: FakePublisher) -> list[str | None]:
    return [correlation for _, _, _, correlation in publisher.published]


class FakeProcessor:
    """Raises the given errors, one per call, then returns `result`."""

    def __init__(self, *errors: Exception, result: Result | None = None) -> None:
        self.errors = list(errors)
        self.result = result or Result(DONE)
        self.calls: list[tuple[MessageFetched, int]] = []

    async def process(self, fetched: MessageFetched, attempt: int) -> Result:
        self.calls.append((fetched, attempt))
        if self.errors:
            raise self.errors.pop(0)
        return self.result


class FakeDatabase:
    """Answers each wait with the next of `answers` after pretending `seconds` passed."""

    def __init__(self, *answers: Wait, seconds: float = 30.0) -> None:
        self.answers = list(answers)
        self.seconds = seconds
        self.waits: list[float] = []

    async def wait_until_reachable(self, at_most_seconds: float) -> Wait:
        self.waits.append(at_most_seconds)
        return self.answers.pop(0) if self.answers else Wait.REACHABLE


async def deliver(
    processor: FakeProcessor,
    publisher: FakePublisher,
    headers: dict[str, Any] | None = None,
    body: bytes | None = None,
    database: FakeDatabase | None = None,
    metrics: IngestorMetrics | None = None,
) -> FakeMessage:
    message = FakeMessage(FETCHED.model_dump_json().encode() if body is None else body, headers)
    handler = MessageFetchedHandler(
        processor,
        publisher,
        delivery_limit=5,
        database=database or FakeDatabase(),
        database_wait_seconds=600.0,
        backoff=lambda attempt: 0.0,
        metrics=metrics,
    )
    await handler(message)
    return message


async def test_success_publishes_then_acks() -> None:
    processor, publisher = FakeProcessor(), FakePublisher()
    message = await deliver(processor, publisher)
    assert processor.calls == [(FETCHED, 1)]
    assert sent(publisher) == [("message.processed", json.loads(DONE.model_dump_json()))]
    assert message.settled == [("ack", False)]


async def test_issue_event_is_published_after_the_outcome_and_before_the_ack() -> None:
    processor, publisher = FakeProcessor(result=Result(DONE, EVENT)), FakePublisher()
    message = await deliver(processor, publisher)
    assert sent(publisher) == [
        ("message.processed", json.loads(DONE.model_dump_json())),
        ("issue.created", json.loads(EVENT.model_dump_json())),
    ]
    # Having no queue bound to issue.* is normal: the event is not mandatory, the outcome is.
    assert mandatory_flags(publisher) == [True, False]
    assert message.settled == [("ack", False)]


async def test_updated_issue_event_goes_to_issue_updated() -> None:
    event = EVENT.model_copy(update={"kind": IssueEventKind.UPDATED})
    publisher = FakePublisher()
    await deliver(FakeProcessor(result=Result(DONE, event)), publisher)
    assert [key for key, _ in sent(publisher)] == ["message.processed", "issue.updated"]


async def test_attempt_comes_from_the_delivery_count() -> None:
    processor = FakeProcessor()
    await deliver(processor, FakePublisher(), {"x-delivery-count": 2})
    assert processor.calls[0][1] == 3


@pytest.mark.parametrize("body", [b"not json", b'{"inbox_id": 0}', b""])
async def test_invalid_payload_is_dead_lettered(body: bytes) -> None:
    processor, publisher = FakeProcessor(), FakePublisher()
    message = await deliver(processor, publisher, body=body)
    assert message.settled == [("reject", False)]
    assert processor.calls == []
    assert sent(publisher) == []


async def test_transient_error_requeues() -> None:
    publisher = FakePublisher()
    message = await deliver(FakeProcessor(RuntimeError("deadlock")), publisher, {"x-delivery-count": 4})
    assert message.settled == [("nack", True)]
    assert sent(publisher) == []


async def test_failed_publish_requeues() -> None:
    message = await deliver(FakeProcessor(), unconfirmed())
    assert message.settled == [("nack", True)]


async def test_last_attempt_publishes_failed_and_dead_letters() -> None:
    publisher = FakePublisher()
    message = await deliver(FakeProcessor(RuntimeError("refused")), publisher, {"x-delivery-count": 5})
    assert message.settled == [("reject", False)]
    [(routing_key, failed)] = sent(publisher)
    assert routing_key == "message.processed"
    assert failed["outcome"] == "failed"
    assert failed["attempts"] == 6
    assert failed["reason"] == "processing failed 6 times; last error: RuntimeError: refused"


async def test_last_attempt_dead_letters_even_when_publish_fails() -> None:
    message = await deliver(FakeProcessor(RuntimeError("refused")), unconfirmed(), {"x-delivery-count": 5})
    assert message.settled == [("reject", False)]


DOWN = DatabaseUnavailable("ConnectionRefusedError: [Errno 111] Connect call failed")


async def test_database_outage_holds_the_delivery_and_retries_it_without_a_requeue() -> None:
    processor, publisher, database = FakeProcessor(DOWN, DOWN), FakePublisher(), FakeDatabase()
    # Even on what would be the last delivery, an outage uses up nothing.
    message = await deliver(processor, publisher, {"x-delivery-count": 5}, database=database)
    assert message.settled == [("ack", False)]
    assert [attempt for _, attempt in processor.calls] == [6, 6, 6]
    assert len(database.waits) == 2
    assert [key for key, _ in sent(publisher)] == ["message.processed"]


async def test_database_wait_is_bounded_then_the_delivery_is_requeued() -> None:
    processor, database = FakeProcessor(DOWN), FakeDatabase(Wait.TIMED_OUT)
    message = await deliver(processor, FakePublisher(), database=database)
    assert message.settled == [("nack", True)]
    assert database.waits[0] == pytest.approx(600.0, abs=5)


async def test_database_wait_times_out_on_the_last_delivery_dead_letters_as_failed() -> None:
    publisher = FakePublisher()
    message = await deliver(
        FakeProcessor(DOWN), publisher, {"x-delivery-count": 5}, database=FakeDatabase(Wait.TIMED_OUT)
    )
    assert message.settled == [("reject", False)]
    [(_, failed)] = sent(publisher)
    assert failed["outcome"] == "failed"
    assert "DatabaseUnavailable" in failed["reason"]


async def test_stopping_while_waiting_for_the_database_gives_the_delivery_back_at_once() -> None:
    processor, publisher = FakeProcessor(DOWN), FakePublisher()
    message = await deliver(processor, publisher, database=FakeDatabase(Wait.STOPPING))
    assert message.settled == [("nack", True)]
    assert sent(publisher) == []


async def test_an_outage_the_probe_never_sees_is_retried_like_any_error() -> None:
    # The database answers at once every time, yet processing keeps failing as if unreachable.
    errors = [DOWN] * (MAX_RETRIES_WITHOUT_OUTAGE + 2)
    processor = FakeProcessor(*errors)
    message = await deliver(processor, FakePublisher(), database=FakeDatabase())
    assert message.settled == [("nack", True)]
    # The first try and MAX_RETRIES_WITHOUT_OUTAGE retries, then an ordinary requeue.
    assert len(processor.calls) == MAX_RETRIES_WITHOUT_OUTAGE + 1


async def test_the_outcome_is_counted_with_its_latency_and_its_events_carry_the_correlation_id() -> None:
    metrics = IngestorMetrics()
    processor, publisher = FakeProcessor(result=Result(DONE, EVENT)), FakePublisher()
    # Arrival 30 s before now, not before the module was imported: in a full run that is minutes ago.
    arrived = FETCHED.model_copy(update={"received_at": datetime.now(UTC) - timedelta(seconds=30)})
    body = arrived.model_dump_json().encode()
    await deliver(processor, publisher, headers={"x-correlation-id": "c0ffee"}, body=body, metrics=metrics)
    assert correlations(publisher) == ["c0ffee", "c0ffee"]
    labels = {"inbox": "1", "outcome": "issue_created"}
    assert metrics.registry.get_sample_value("intake_messages_processed_total", labels) == 1
    assert metrics.registry.get_sample_value("intake_delivery_latency_seconds_count") == 1
    # Arrived 30 s before: in the 30-60 s bucket, not below.
    assert metrics.registry.get_sample_value("intake_delivery_latency_seconds_bucket", {"le": "10.0"}) == 0
    assert metrics.registry.get_sample_value("intake_delivery_latency_seconds_bucket", {"le": "60.0"}) == 1


async def test_a_replay_is_counted_but_measures_no_delivery_latency() -> None:
    metrics = IngestorMetrics()
    replay = FETCHED.model_copy(update={"replay": True})
    message = FakeMessage(replay.model_dump_json().encode())
    handler = MessageFetchedHandler(
        FakeProcessor(),
        FakePublisher(),
        delivery_limit=5,
        database=FakeDatabase(),
        metrics=metrics,
    )
    await handler(message)
    assert (
        metrics.registry.get_sample_value("intake_messages_processed_total", {"inbox": "1", "outcome": "issue_created"})
        == 1
    )
    assert metrics.registry.get_sample_value("intake_delivery_latency_seconds_count") == 0
