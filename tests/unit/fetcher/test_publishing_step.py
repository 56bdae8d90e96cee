"""publishing.Publisher with fake rows and a fake bus: one event per batch, confirmed rows marked published,
failed ones left stored for `republish`, and a confirmed publish marked even when the loop is cancelled."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field

import pytest
import structlog

from intake.fetcher.checkpoint import Checkpoint
from intake.fetcher.headers import summarize
from intake.fetcher.metrics import FetcherMetrics
from intake.fetcher.publishing import PUBLISH_BATCH, Publisher
from intake.fetcher.repository import FetchedMessage, NewMessage
from intake.shared import topology
from intake.shared.contracts import Contract, FetchedBatch, MessageFetched
from tests.fakes.inbox_records import FakeInboxRecords
from tests.fakes.publisher import FakePublisher, Unconfirmed
from tests.unit.fetcher.conftest import mail


async def stored(records: FakeInboxRecords, uids: Sequence[int]) -> list[FetchedMessage]:
    """Rows for `uids` in state `stored` (as a fetch leaves them before their publish)."""
    messages = [NewMessage(uid, mail(uid), summarize(mail(uid))) for uid in uids]
    return await records.store_messages(7, messages, Checkpoint(7, max(uids)))


async def test_a_batch_goes_out_as_one_fetched_batch_and_is_marked_published(
    records: FakeInboxRecords, events: FakePublisher, publisher: Publisher
) -> None:
    messages = await stored(records, [1, 2])

    await publisher.publish(messages)

    (batch,) = events.events(topology.MESSAGE_FETCHED)
    assert isinstance(batch, FetchedBatch)
    assert [entry.fetched for entry in batch.messages] == [message.event() for message in messages]
    assert [entry.correlation_id for entry in batch.messages] == [message.correlation_id for message in messages]
    assert records.uids("published") == [1, 2]


async def test_a_lone_message_goes_out_as_itself_with_its_correlation_id(
    records: FakeInboxRecords, events: FakePublisher, publisher: Publisher
) -> None:
    (message,) = await stored(records, [1])

    await publisher.publish([message])

    assert events.published == [(message.event(), topology.MESSAGE_FETCHED, True, message.correlation_id)]
    assert isinstance(events.published[0][0], MessageFetched)


async def test_an_unconfirmed_publish_leaves_them_stored_and_republish_sends_them(
    records: FakeInboxRecords, events: FakePublisher, publisher: Publisher
) -> None:
    messages = await stored(records, [1, 2])
    events.failing.add(topology.MESSAGE_FETCHED)

    with pytest.raises(Unconfirmed):
        await publisher.publish(messages)
    assert records.uids("stored") == [1, 2]

    events.failing.clear()
    await publisher.republish()
    assert records.uids("published") == [1, 2]
    await publisher.republish()  # nothing left
    assert len(events.events(topology.MESSAGE_FETCHED)) == 1


async def test_republish_sends_what_is_stored_publish_batch_at_a_time(
    records: FakeInboxRecords, events: FakePublisher, publisher: Publisher
) -> None:
    await stored(records, range(1, PUBLISH_BATCH + 6))

    await publisher.republish()

    sizes = [
        len(event.messages) if isinstance(event, FetchedBatch) else 1
        for event in events.events(topology.MESSAGE_FETCHED)
    ]
    assert sizes == [PUBLISH_BATCH, 5]
    assert records.uids("stored") == []


@dataclass
class HeldPublisher(FakePublisher):
    """A `FakePublisher` whose confirms arrive only when `confirm` is set."""

    confirm: asyncio.Event = field(default_factory=asyncio.Event)
    waiting: asyncio.Event = field(default_factory=asyncio.Event)

    async def publish_each(
        self,
        events: Sequence[tuple[Contract, str, bool]],
        correlations: Sequence[str | None] | None = None,
    ) -> list[BaseException | None]:
        self.waiting.set()
        await self.confirm.wait()
        return await super().publish_each(events, correlations)


async def test_a_confirmed_publish_is_marked_even_when_the_loop_is_cancelled_meanwhile(
    records: FakeInboxRecords,
) -> None:
    events = HeldPublisher()
    publisher = Publisher(records, events, FetcherMetrics().for_inbox(1), structlog.get_logger())
    messages = await stored(records, [1, 2])
    publishing = asyncio.create_task(publisher.publish(messages))
    await events.waiting.wait()

    publishing.cancel()  # the lease was released while the confirms were on their way
    await asyncio.sleep(0)
    events.confirm.set()
    with pytest.raises(asyncio.CancelledError):
        await publishing

    assert records.uids("published") == [1, 2]  # the next owner will not publish them again
