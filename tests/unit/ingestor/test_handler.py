"""handler.MessageFetchedHandler with hand-written fakes: when it acks, requeues, dead-letters, publishes."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from intake.ingestor.handler import MessageFetchedHandler
from intake.shared.contracts import MessageFetched, MessageProcessed, Outcome

SHA = "a" * 64
FETCHED = MessageFetched(inbox_id=1, uidvalidity=7, uid=9, raw_sha256=SHA, size=10, fetched_at=datetime.now(UTC))
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


class FakeBroker:
    def __init__(self, fail: bool = False) -> None:
        self.fail = fail
        self.published: list[tuple[str, dict[str, Any]]] = []

    async def publish(self, body: bytes, *, routing_key: str, **_: Any) -> None:
        if self.fail:
            raise ConnectionError("broker gone")
        self.published.append((routing_key, json.loads(body)))


class FakeProcessor:
    def __init__(self, error: Exception | None = None) -> None:
        self.error = error
        self.calls: list[tuple[MessageFetched, int]] = []

    async def process(self, fetched: MessageFetched, attempt: int) -> MessageProcessed:
        self.calls.append((fetched, attempt))
        if self.error is not None:
            raise self.error
        return DONE


async def deliver(
    processor: FakeProcessor, broker: FakeBroker, headers: dict[str, Any] | None = None, body: bytes | None = None
) -> FakeMessage:
    message = FakeMessage(FETCHED.model_dump_json().encode() if body is None else body, headers)
    handler = MessageFetchedHandler(processor, broker, delivery_limit=5, backoff=lambda attempt: 0.0)  # type: ignore[arg-type]
    await handler(message)  # type: ignore[arg-type]
    return message


async def test_success_publishes_then_acks() -> None:
    processor, broker = FakeProcessor(), FakeBroker()
    message = await deliver(processor, broker)
    assert processor.calls == [(FETCHED, 1)]
    assert broker.published == [("message.processed", json.loads(DONE.model_dump_json()))]
    assert message.settled == [("ack", False)]


async def test_attempt_comes_from_the_delivery_count() -> None:
    processor = FakeProcessor()
    await deliver(processor, FakeBroker(), {"x-delivery-count": 2})
    assert processor.calls[0][1] == 3


@pytest.mark.parametrize("body", [b"not json", b'{"inbox_id": 0}', b""])
async def test_invalid_payload_is_dead_lettered(body: bytes) -> None:
    processor, broker = FakeProcessor(), FakeBroker()
    message = await deliver(processor, broker, body=body)
    assert message.settled == [("reject", False)]
    assert processor.calls == []
    assert broker.published == []


async def test_transient_error_requeues() -> None:
    broker = FakeBroker()
    message = await deliver(FakeProcessor(OSError("db down")), broker, {"x-delivery-count": 4})
    assert message.settled == [("nack", True)]
    assert broker.published == []


async def test_failed_publish_requeues() -> None:
    message = await deliver(FakeProcessor(), FakeBroker(fail=True))
    assert message.settled == [("nack", True)]


async def test_last_attempt_publishes_failed_and_dead_letters() -> None:
    broker = FakeBroker()
    message = await deliver(FakeProcessor(OSError("db down")), broker, {"x-delivery-count": 5})
    assert message.settled == [("reject", False)]
    [(routing_key, failed)] = broker.published
    assert routing_key == "message.processed"
    assert failed["outcome"] == "failed"
    assert failed["attempts"] == 6
    assert failed["reason"] == "processing failed 6 times; last error: OSError: db down"


async def test_last_attempt_dead_letters_even_when_publish_fails() -> None:
    message = await deliver(FakeProcessor(OSError("db down")), FakeBroker(fail=True), {"x-delivery-count": 5})
    assert message.settled == [("reject", False)]
