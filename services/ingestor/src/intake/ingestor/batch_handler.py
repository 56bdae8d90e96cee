"""Working through prefetched deliveries in batches: one transaction, pipelined publishes, then the acks.

Each message's `take` queues it and waits until it is settled. A few workers of the shared batch
engine (`shared/batch_engine.py`) take up to `batch_size` queued messages at a time; each batch is
stored in one transaction
(`Ingestor.process_batch`); then they publish the batch's outcomes as one `ProcessedBatch` and every
issue event at once, wait for all the confirms, and only then ack the deliveries (with one `multiple`
ack where the channel allows, `shared/acknowledger.py`) (DESIGN §2: ack after commit and confirmed
publish).

Whatever the batch cannot take goes down the one-message path of `MessageFetchedHandler`, with its
guarantees unchanged: repeats, replays, rejections, messages with attachments, redeliveries (a
message that failed once is retried on its own, so a poison message never fails a batch twice), and
every message of a batch whose transaction or publishes failed (a database outage then holds them
through `database_watch.py` as before). A message that shares a thread, a Message-ID or an issue
with an earlier one of its batch goes back to the front of the queue for the next batch.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

import structlog

from intake.ingestor.batch_ingest import BatchOutcome
from intake.ingestor.deliveries import Delivery
from intake.ingestor.handler import MessageFetchedHandler, batch_events_of, log_fields
from intake.ingestor.metrics import IngestorMetrics
from intake.shared import bus
from intake.shared.batch_engine import BatchEngine
from intake.shared.contracts import MessageFetched
from intake.shared.event_publisher import EventPublisher, publish_all

log = structlog.get_logger(__name__)

# How long a worker waits for more deliveries when fewer than a full batch are queued. Deliveries
# arrive in bursts (one socket read holds many); a few milliseconds let a burst become one batch.
GATHER_SECONDS = 0.003


class BatchProcessor(Protocol):
    async def process_batch(self, items: Sequence[tuple[MessageFetched, int]]) -> BatchOutcome: ...


async def ack_each(deliveries: Sequence[Delivery]) -> None:
    """Ack deliveries one by one (a consumer whose channel allows more passes `ack_many`)."""
    for delivery in deliveries:
        await delivery.ack()


@dataclass(eq=False)
class _Delivery:
    message: Delivery
    fetched: MessageFetched
    attempt: int
    correlation: str | None
    settled: asyncio.Future[None] = field(default_factory=lambda: asyncio.get_running_loop().create_future())

    def settle(self) -> None:
        if not self.settled.done():
            self.settled.set_result(None)


class BatchingHandler:
    """Takes the messages of `message.fetched` deliveries into batches (see the module docstring); the
    consumer is `MessageFetchedHandler.consume(delivery, batching.take)`."""

    def __init__(
        self,
        processor: BatchProcessor,
        one: MessageFetchedHandler,
        publisher: EventPublisher,
        *,
        batch_size: int,
        workers: int = 2,
        gather_seconds: float = GATHER_SECONDS,
        ack_many: Callable[[Sequence[Delivery]], Awaitable[None]] = ack_each,
        metrics: IngestorMetrics | None = None,
    ) -> None:
        self._metrics = metrics if metrics is not None else IngestorMetrics()
        self._processor = processor
        self._one = one
        self._publisher = publisher
        self._batch_size = batch_size
        self._ack_many = ack_many
        self._engine: BatchEngine[_Delivery] = BatchEngine(
            self._run, batch_size=batch_size, gather_seconds=gather_seconds, workers=workers, name="ingestor-batches"
        )

    async def take(self, message: Delivery, fetched: MessageFetched, attempt: int) -> None:
        """Queue one message for a batch and return once it is settled; a redelivery (or any message
        while batching is off or closing) goes down the one-message path instead."""
        if self._batch_size <= 1 or attempt > 1 or self._engine.closing:
            await self._one.handle(message, fetched, attempt)
            return
        delivery = _Delivery(message, fetched, attempt, bus.correlation_id(message.headers))
        self._engine.put(delivery)
        await delivery.settled

    async def _run(self, batch: list[_Delivery]) -> None:
        try:
            await self._store(batch)
        except BaseException:
            # Never leave a handler waiting; RabbitMQ redelivers whatever is not acked.
            for delivery in batch:
                if not self._engine.holds(delivery):
                    delivery.settle()
            raise

    async def _store(self, batch: list[_Delivery]) -> None:
        started = time.perf_counter()
        try:
            outcome = await self._processor.process_batch([(d.fetched, d.attempt) for d in batch])
        except Exception as error:
            log.warning(
                "batch failed, processing its messages one by one",
                error=f"{type(error).__name__}: {error}",
                messages=len(batch),
            )
            self._alone_each(batch)
            return
        if outcome.deferred:
            # Back to the front, in their order: the next batch starts after this one committed.
            self._engine.put_front([batch[position] for position in outcome.deferred])
        self._alone_each([batch[position] for position in outcome.single])
        committed = [(batch[position], result) for position, result in outcome.results.items()]
        if committed:
            self._metrics.batch_committed(len(committed), time.perf_counter() - started)
        events = (
            batch_events_of([(result, delivery.correlation) for delivery, result in committed]) if committed else []
        )
        try:
            await publish_all(
                self._publisher, [event[:3] for event in events], [correlation for *_, correlation in events]
            )
        except Exception as error:
            # Committed, so the one-message path re-emits each stored outcome (at least once).
            log.warning(
                "publishing a batch's outcomes failed, re-emitting them one by one",
                error=f"{type(error).__name__}: {error}",
                messages=len(committed),
            )
            self._alone_each([delivery for delivery, _ in committed])
            return
        try:
            await self._ack_many([delivery.message for delivery, _ in committed])
        finally:
            for delivery, _ in committed:
                delivery.settle()
        now = time.time()
        for delivery, result in committed:
            self._metrics.outcome_committed(delivery.fetched, result.processed.outcome, now)
        # One line per batch, naming each message and its outcome: what a search by correlation id finds.
        log.info(
            "messages processed",
            messages=[
                {**log_fields(delivery.fetched, delivery.correlation), "outcome": result.processed.outcome.value}
                for delivery, result in committed
            ],
            deferred=len(outcome.deferred),
            alone=len(outcome.single),
        )

    def _alone_each(self, deliveries: Sequence[_Delivery]) -> None:
        for delivery in deliveries:
            self._engine.alone(self._alone_one(delivery))

    async def _alone_one(self, delivery: _Delivery) -> None:
        try:
            await self._one.handle(delivery.message, delivery.fetched, delivery.attempt)
        except Exception as error:  # the handler settles every delivery itself; this is a closing channel.
            log.warning("a message could not be settled", error=f"{type(error).__name__}: {error}")
        finally:
            delivery.settle()

    async def close(self, wait_seconds: float = 30.0) -> None:
        """Finish the batches in progress (at most `wait_seconds`), take no more; deliveries still
        queued are left unacknowledged (RabbitMQ gives them back when the channel closes)."""
        for delivery in await self._engine.stop_batches(wait_seconds):
            delivery.settle()
        # A message on the one-message path settles itself; it is waited for, never cancelled.
        await self._engine.stop_alone(wait_seconds, cancel_late=False)
