"""Consuming one work queue in batches on a channel of its own: many events recorded at once, one ack for them.

For consumers whose work per message is one database write (the email log, the fetcher's outcomes):
there, a transaction, an ack frame and faststream's per-delivery machinery each cost more than the
write. Here each delivery is decoded as it arrives into the events it carries (one, or several when the
publisher batched them, e.g. the ingestor's `ProcessedBatch`); one worker of the shared batch engine
(`batch_engine.py`) takes deliveries holding up to `batch_size` events at a time, hands their events to
`record` (one transaction), and then settles them with as few acks as the channel allows
(`acknowledger.py`: one `multiple` ack for the oldest run, so the channel is this consumer's alone).

The guarantees are those of one message at a time (DESIGN §2):
- an ack only after `record` returned, i.e. after the commit;
- a body that is not the contract is settled as `ack_policy.undecodable` says: rejected at once to the
  dead-letter queue (it can never succeed);
- when a batch fails, each of its deliveries is recorded on its own, and within a delivery that still
  fails each event on its own, so one bad event fails alone and the others are recorded; a delivery
  with an event that fails on its own is settled as `ack_policy.settle` says: nacked after a growing
  delay, until its last attempt, which is rejected to the dead-letter queue. Redeliveries (attempt > 1)
  take that one-by-one way from the start.
The channel's prefetch bounds what is held. `close` stops consuming, finishes the batch in progress
and the events being recorded one by one (each acked after its commit), nacks at once an event waiting
out its retry delay, and leaves everything else unacknowledged: RabbitMQ gives it back when the
connection closes.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import structlog
from aio_pika.abc import AbstractIncomingMessage, AbstractQueue
from faststream.rabbit import Channel, RabbitBroker, RabbitQueue
from pydantic import ValidationError

from intake.shared.ack_policy import Action, Ending, Settlement, delivery_attempt, settle, undecodable
from intake.shared.acknowledger import Acknowledger
from intake.shared.batch_engine import BatchEngine

log = structlog.get_logger(__name__)

E = TypeVar("E")

# How long the worker waits for more deliveries when fewer than a full batch are queued. Each batch is
# a transaction (a WAL flush) and an ack: at 5 ms the pipeline bench's 2,000 messages took ~450
# batches over the three batched queues (12-17 events each), at 50 ms 100-150. An email-log row or a
# mailbox action is at most this much later.
GATHER_SECONDS = 0.05
# How long a stop waits for RabbitMQ to confirm that consuming ended.
CANCEL_SECONDS = 5.0


@dataclass(eq=False)
class _Held(Generic[E]):
    message: AbstractIncomingMessage
    events: Sequence[E]
    attempt: int


def _event_count(held: _Held[E]) -> int:
    """A delivery's weight in a batch: the events it carries."""
    return len(held.events)


class BatchConsumer(Generic[E]):
    """Consumes `queue` (see the module docstring); `start` on a connected broker, `close` before it stops."""

    def __init__(
        self,
        queue: RabbitQueue,
        decode: Callable[[bytes], Sequence[E]] | Callable[[bytes, Mapping[str, Any]], Sequence[E]],
        record: Callable[[Sequence[E]], Awaitable[None]],
        *,
        batch_size: int = 200,
        prefetch: int = 400,
        gather_seconds: float = GATHER_SECONDS,
        with_headers: bool = False,
    ) -> None:
        """`decode(body)` makes the events a delivery carries (at least one); with `with_headers`,
        `decode(body, headers)` (the delivery's AMQP headers, e.g. its correlation id)."""
        if batch_size < 1 or prefetch < 1:
            raise ValueError("batch_size and prefetch must be at least 1")
        self._queue_spec = queue
        self._name = queue.name
        limit = (queue.arguments or {}).get("x-delivery-limit")
        if not isinstance(limit, int):
            raise ValueError(f"queue {queue.name} has no x-delivery-limit (topology.work_queue sets one)")
        self._delivery_limit = limit
        self._decode: Callable[..., Sequence[E]] = decode
        self._with_headers = with_headers
        self._record = record
        self._batch_size = batch_size
        self._prefetch = prefetch
        self._engine: BatchEngine[_Held[E]] = BatchEngine(
            self._record_batch,
            batch_size=batch_size,
            gather_seconds=gather_seconds,
            weight=_event_count,
            name=f"batch-consumer:{queue.name}",
        )
        self._acknowledger = Acknowledger()
        self._consumer: tuple[AbstractQueue, str] | None = None
        # Set by `close`: a failed event waiting out its retry delay is given back at once.
        self._stopping = asyncio.Event()

    async def start(self, broker: RabbitBroker) -> None:
        # A channel of its own (faststream's declarer would hand back the queue on the default channel).
        channel = await broker.config.channel_manager.get_channel(
            Channel(prefetch_count=self._prefetch, publisher_confirms=False)
        )
        spec = self._queue_spec
        queue = await channel.declare_queue(
            spec.name,
            durable=spec.durable,
            exclusive=spec.exclusive,
            auto_delete=spec.auto_delete,
            arguments=spec.arguments,
        )
        self._engine.start()
        self._consumer = (queue, await queue.consume(self._on_delivery))
        log.info("consuming in batches", queue=self._name, batch_size=self._batch_size, prefetch=self._prefetch)

    # Deliveries

    async def _on_delivery(self, message: AbstractIncomingMessage) -> None:
        self._acknowledger.received(message)
        try:
            events = (
                self._decode(message.body, message.headers or {}) if self._with_headers else self._decode(message.body)
            )
            if not events:
                raise ValueError("a delivery must carry at least one event")
        except (ValidationError, ValueError) as error:
            details = error.errors()[0] if isinstance(error, ValidationError) else {"loc": (), "type": "value_error"}
            # The body itself is not logged: it may carry addresses or subjects.
            settlement = undecodable()
            log.error(
                "rejecting undecodable event",
                queue=self._name,
                loc=list(details["loc"]),
                error_type=details["type"],
                why=settlement.reason,
            )
            await self._settle(message, settlement)
            return
        if self._engine.closing:
            return  # left unacknowledged: RabbitMQ gives it back when the connection closes.
        held = _Held(message, events, delivery_attempt(message.headers or {}))
        if held.attempt > 1:
            self._engine.alone(self._record_alone(held))
            return
        self._engine.put(held)

    # Batches

    async def _record_batch(self, batch: list[_Held[E]]) -> None:
        events = [event for held in batch for event in held.events]
        try:
            await self._record(events)
        except Exception as error:
            log.warning(
                "recording a batch failed, recording its deliveries one by one",
                queue=self._name,
                events=len(events),
                error=f"{type(error).__name__}: {error}",
            )
            for held in batch:
                self._engine.alone(self._record_alone(held))
            return
        await self._ack(batch)
        log.debug("batch recorded", queue=self._name, events=len(events))

    async def _ack(self, done: Sequence[_Held[E]]) -> None:
        try:
            await self._acknowledger.ack([held.message for held in done])
        except Exception as error:
            # Recorded and committed; RabbitMQ redelivers them and recording again changes nothing.
            log.warning(
                "acking recorded events failed; they will be redelivered",
                queue=self._name,
                deliveries=len(done),
                error=f"{type(error).__name__}: {error}",
            )

    # One by one

    async def _record_alone(self, held: _Held[E]) -> None:
        try:
            await self._record_each(held.events)
        except Exception as error:
            settlement = settle(Ending.FAILED, held.attempt, self._delivery_limit)
            log.warning(
                "recording failed",
                queue=self._name,
                attempt=held.attempt,
                settled=settlement.action.value,
                retry_in=settlement.delay_seconds,
                why=settlement.reason,
                error=f"{type(error).__name__}: {error}",
            )
            await self._settle(held.message, settlement)
            return
        await self._ack([held])

    async def _record_each(self, events: Sequence[E]) -> None:
        """Record `events` at once; if that fails and they are several, each on its own, so the others
        are recorded whatever one of them does. Raises the first failure."""
        try:
            await self._record(events)
            return
        except Exception:
            if len(events) == 1:
                raise
        failure: Exception | None = None
        for event in events:
            try:
                await self._record([event])
            except Exception as error:
                failure = failure or error
        if failure is not None:
            raise failure

    async def _settle(self, message: AbstractIncomingMessage, settlement: Settlement) -> None:
        """Do what `settlement` says with a delivery settled on its own: ack it, nack it with requeue once
        its delay passed (at once when `close` was called), or reject it to the dead-letter exchange."""
        if settlement.action is Action.REQUEUE:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), timeout=settlement.delay_seconds)
        try:
            if settlement.action is Action.ACK:
                await self._acknowledger.ack([message])
            elif settlement.action is Action.REQUEUE:
                await self._acknowledger.nack(message, requeue=True)
            else:
                await self._acknowledger.reject(message, requeue=False)
        except Exception as error:
            log.warning(
                "settling a delivery failed; RabbitMQ will redeliver it",
                queue=self._name,
                error=f"{type(error).__name__}: {error}",
            )

    async def close(self, wait_seconds: float = 30.0) -> None:
        """Stop consuming, finish the batch in progress and the one-by-one recordings (at most `wait_seconds`
        each), nack an event waiting to be retried, leave the rest unacked."""
        if self._consumer is not None:
            queue, tag = self._consumer
            self._consumer = None
            # A closed channel has no consumer left to cancel; one being reconnected may never answer.
            with contextlib.suppress(Exception):
                await asyncio.wait_for(queue.cancel(tag), timeout=CANCEL_SECONDS)
        # What is still queued is left unacknowledged: RabbitMQ gives it back when the connection closes.
        await self._engine.stop_batches(wait_seconds)
        # Events recorded one by one are acked, not cancelled between their commit and their ack (they
        # would come back and be recorded again); one waiting out a retry delay is nacked at once.
        self._stopping.set()
        await self._engine.stop_alone(wait_seconds, cancel_late=True)
