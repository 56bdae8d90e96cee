"""deliveries.py with hand-written fakes: a `FetchedBatch` delivery is handled message by message and
settled once, after its last message: acked, requeued or dead-lettered as its messages' settlements say."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from intake.ingestor.database_watch import Wait
from intake.ingestor.deliveries import Part, parts
from intake.ingestor.handler import MessageFetchedHandler
from intake.ingestor.results import Result
from intake.shared.batched_events import fetched_message
from intake.shared.contracts import MessageFetched, MessageProcessed, Outcome
from tests.fakes.publisher import FakePublisher
from tests.unit.ingestor.test_handler import FakeMessage, correlations, sent


def fetched(uid: int) -> MessageFetched:
    return MessageFetched(
        inbox_id=1, uidvalidity=7, uid=uid, raw_sha256="a" * 64, size=10, fetched_at=datetime.now(UTC)
    )


class ByUid:
    """Processes every message, raising for the UIDs in `failing`."""

    def __init__(self, *failing: int) -> None:
        self.failing = set(failing)
        self.calls: list[tuple[int, int]] = []

    async def process(self, message: MessageFetched, attempt: int) -> Result:
        self.calls.append((message.uid, attempt))
        if message.uid in self.failing:
            raise RuntimeError(f"uid {message.uid} cannot be stored")
        return Result(
            MessageProcessed(
                inbox_id=message.inbox_id,
                uidvalidity=message.uidvalidity,
                uid=message.uid,
                raw_sha256=message.raw_sha256,
                outcome=Outcome.ISSUE_CREATED,
                reason="created",
                issue_number=message.uid,
                attempts=attempt,
                processed_at=datetime.now(UTC),
            )
        )


class Reachable:
    async def wait_until_reachable(self, at_most_seconds: float) -> Wait:
        return Wait.REACHABLE


async def deliver_batch(
    processor: ByUid, uids: list[int], headers: dict[str, Any] | None = None
) -> tuple[FakeMessage, FakePublisher]:
    event, correlation = fetched_message([(fetched(uid), f"corr-{uid}") for uid in uids])
    assert correlation is None
    message, publisher = FakeMessage(event.model_dump_json().encode(), headers), FakePublisher()
    handler = MessageFetchedHandler(
        processor,
        publisher,
        delivery_limit=5,
        database=Reachable(),
        backoff=lambda attempt: 0.0,
    )
    await handler(message)
    return message, publisher


async def test_a_batch_whose_messages_all_succeed_is_acked_once_with_each_outcome_correlated() -> None:
    processor = ByUid()
    message, publisher = await deliver_batch(processor, [1, 2, 3])
    assert sorted(processor.calls) == [(1, 1), (2, 1), (3, 1)]
    assert message.settled == [("ack", False)]
    assert sorted(body["uid"] for _, body in sent(publisher)) == [1, 2, 3]
    assert sorted(c for c in correlations(publisher) if c) == ["corr-1", "corr-2", "corr-3"]


async def test_one_message_failing_before_its_last_attempt_requeues_the_batch_after_the_others_are_done() -> None:
    processor = ByUid(2)
    message, publisher = await deliver_batch(processor, [1, 2, 3], {"x-delivery-count": 1})
    assert sorted(processor.calls) == [(1, 2), (2, 2), (3, 2)]
    assert message.settled == [("nack", True)]
    assert sorted(body["uid"] for _, body in sent(publisher)) == [1, 3]


async def test_one_message_given_up_on_dead_letters_the_batch_with_its_failure_published() -> None:
    processor = ByUid(2)
    message, publisher = await deliver_batch(processor, [1, 2], {"x-delivery-count": 5})
    assert message.settled == [("reject", False)]
    outcomes = {body["uid"]: body["outcome"] for _, body in sent(publisher)}
    assert outcomes == {1: "issue_created", 2: "failed"}


@pytest.mark.parametrize("body", [b'{"messages": []}', b'{"messages": [{"fetched": {"uid": 1}}]}'])
async def test_a_malformed_batch_is_dead_lettered_whole_without_processing(body: bytes) -> None:
    processor, publisher = ByUid(), FakePublisher()
    message = FakeMessage(body)
    handler = MessageFetchedHandler(
        processor,
        publisher,
        delivery_limit=5,
        database=Reachable(),
    )
    await handler(message)
    assert message.settled == [("reject", False)]
    assert processor.calls == []


def test_a_lone_message_is_settled_through_its_own_delivery() -> None:
    message, one = FakeMessage(b"", {"x-correlation-id": "c1"}), fetched(1)
    assert parts(message, [(one, "c1")], "c1") == [(message, one)]


async def test_a_part_carries_its_own_correlation_id_and_the_delivery_count_and_settles_once() -> None:
    message = FakeMessage(b"", {"x-delivery-count": 2, "x-correlation-id": "batch"})
    (first, _), (second, _) = parts(message, [(fetched(1), "c1"), (fetched(2), None)], "batch")
    assert isinstance(first, Part)
    assert first.headers == {"x-delivery-count": 2, "x-correlation-id": "c1"}
    assert second.headers == {"x-delivery-count": 2}
    await first.ack()
    assert message.settled == []  # the delivery waits for its last part
    with pytest.raises(RuntimeError, match="settled twice"):
        await first.ack()
    await second.reject()
    assert message.settled == [("reject", False)]
