"""Publishing one inbox's stored messages on the bus: a batch goes out as one `FetchedBatch`, and the
confirmed messages are marked published in the same step, which a cancelled loop still finishes.

Talks to the bus through `EventPublisher` and to the rows through `InboxRecords` (ports with fakes)."""

from __future__ import annotations

import asyncio

from structlog.typing import FilteringBoundLogger

from intake.fetcher.inbox_records import InboxRecords
from intake.fetcher.metrics import InboxMetrics
from intake.fetcher.repository import FetchedMessage
from intake.shared import batched_events, topology
from intake.shared.event_publisher import EventPublisher

# Messages left `stored` (a crash or a failed publish) are republished this many at a time, as one
# `FetchedBatch` (a fetched batch is published the same way); order on the bus does not matter
# downstream.
PUBLISH_BATCH = 32


class Publisher:
    """Publishes one inbox's stored messages and marks the confirmed ones as published."""

    def __init__(
        self, records: InboxRecords, events: EventPublisher, metrics: InboxMetrics, inbox_log: FilteringBoundLogger
    ) -> None:
        self._records = records
        self._events = events
        self._metrics = metrics
        self._log = inbox_log

    async def publish(self, messages: list[FetchedMessage]) -> None:
        """Publish `messages` (confirms awaited together) and mark the confirmed ones as one step,
        finished even when the loop is cancelled meanwhile.

        A loop is cancelled when its lease is released (fair share, SIGTERM): a confirmed publish
        whose row stayed `stored` would be published a second time by the next owner.
        """
        step = asyncio.ensure_future(self._publish_and_mark(messages))
        try:
            await asyncio.shield(step)
        except asyncio.CancelledError:
            await asyncio.wait([step])  # finish the step; the cancellation goes on afterwards
            if not step.cancelled() and step.exception() is not None:
                uids = [message.uid for message in messages]
                self._log.warning("publish failed while stopping", uids=uids, error=str(step.exception()))
            raise

    async def _publish_and_mark(self, messages: list[FetchedMessage]) -> None:
        # Several messages go as one `FetchedBatch`: one publish, and one delivery to each consumer.
        event, correlation = batched_events.fetched_message(
            [(message.event(), message.correlation_id) for message in messages]
        )
        (failure,) = await self._events.publish_each([(event, topology.MESSAGE_FETCHED, True)], [correlation])
        confirmed = messages if failure is None else []
        if confirmed:
            await self._records.mark_published([message.id for message in confirmed])
            self._metrics.fetched.inc(len(confirmed))
            # One line per published batch, naming each message (uid, message_id, correlation_id): what the
            # ingestor's and config-api's lines about it are found by.
            self._log.info(
                "messages fetched",
                uidvalidity=confirmed[0].uidvalidity,
                messages=[message.log_fields() for message in confirmed],
                bytes=sum(message.size for message in confirmed),
            )
        if failure is not None:
            raise failure  # they stay `stored` and are republished at the next cycle

    async def republish(self) -> None:
        """Publish what a crash or a failed publish left `stored`, PUBLISH_BATCH at a time."""
        stored = await self._records.unpublished()
        if stored:
            self._log.info("republishing stored messages", messages=[message.log_fields() for message in stored])
        for start in range(0, len(stored), PUBLISH_BATCH):
            await self.publish(stored[start : start + PUBLISH_BATCH])
