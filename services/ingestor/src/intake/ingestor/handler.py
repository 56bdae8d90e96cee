"""The `message.fetched` consumer: decode, process, publish `message.processed` and the issue event, then settle.

Thin: acks only after the outcome is committed and its publishes confirmed (DESIGN §2). While
PostgreSQL is unreachable it holds the delivery and waits for the database (`database_watch.py`)
instead of requeueing, so an outage does not use up deliveries; any other error requeues the message
after a backoff, and on its last delivery it publishes `failed` and dead-letters it. A payload that
is neither a `MessageFetched` nor a `FetchedBatch` is dead-lettered at once (`ack_policy.undecodable`);
each message of a batch is handled as a delivery of its own (`deliveries.py`), and `consume` is the one
place that decodes a delivery and hands on its messages, here or to the batches (`batch_handler.py`).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from typing import Protocol

import structlog
from pydantic import ValidationError

from intake.ingestor.database_watch import Wait
from intake.ingestor.deliveries import Delivery, parts
from intake.ingestor.errors import DatabaseUnavailable
from intake.ingestor.metrics import IngestorMetrics
from intake.ingestor.results import Result, message_processed
from intake.shared import batched_events, bus, topology
from intake.shared.ack_policy import Action, Ending, Settlement, delivery_attempt, retry_delay, settle, undecodable
from intake.shared.contracts import Contract, IssueEventKind, MessageFetched, Outcome
from intake.shared.event_publisher import EventPublisher

log = structlog.get_logger(__name__)

# Errors that look like an outage while the database answers its probe at once are not an outage
# (a closed connection from the pool, or a bug): after this many, they are retried like any error.
MAX_RETRIES_WITHOUT_OUTAGE = 3
# How soon after a wait begins a probe counts as "answered at once".
AT_ONCE_SECONDS = 1.0

ISSUE_EVENT_ROUTING_KEYS = {
    IssueEventKind.CREATED: topology.ISSUE_CREATED,
    IssueEventKind.UPDATED: topology.ISSUE_UPDATED,
}


class Processor(Protocol):
    async def process(self, fetched: MessageFetched, attempt: int) -> Result: ...


class DatabaseWaiter(Protocol):
    async def wait_until_reachable(self, at_most_seconds: float) -> Wait: ...


# What takes one message of a delivery on: the delivery to settle it through, the message, its attempt.
Take = Callable[[Delivery, MessageFetched, int], Awaitable[None]]


def log_fields(fetched: MessageFetched, correlation: str | None) -> dict[str, object]:
    """What every log line about `fetched` names it by: inbox, UID, Message-ID and correlation id
    (never its sender or subject)."""
    return {
        "inbox_id": fetched.inbox_id,
        "uid": fetched.uid,
        "message_id": fetched.message_id,
        "correlation_id": correlation,
    }


def _issue_event(result: Result) -> tuple[Contract, str, bool] | None:
    """The issue event to publish for `result`, if any. A notification: having no queue bound to
    `issue.*` is normal, so it is not mandatory."""
    if result.event is None:
        return None
    return result.event, ISSUE_EVENT_ROUTING_KEYS[result.event.kind], False


def events_of(result: Result) -> list[tuple[Contract, str, bool]]:
    """What to publish for `result`, in order: (event, routing key, mandatory)."""
    # message.processed first: it is what the fetcher and the email log act on.
    issue_event = _issue_event(result)
    return [(result.processed, topology.MESSAGE_PROCESSED, True), *([issue_event] if issue_event else [])]


def batch_events_of(committed: Sequence[tuple[Result, str | None]]) -> list[tuple[Contract, str, bool, str | None]]:
    """What to publish for the results one batch committed (at least one), each with the correlation id
    of its message: every outcome in one `ProcessedBatch` (one publish and one delivery per consumer
    instead of one per message; a lone outcome as itself), then each issue event."""
    outcomes, outcomes_correlation = batched_events.processed_message(
        [(result.processed, correlation) for result, correlation in committed]
    )
    events: list[tuple[Contract, str, bool, str | None]] = [
        (outcomes, topology.MESSAGE_PROCESSED, True, outcomes_correlation)
    ]
    for result, correlation in committed:
        if (issue_event := _issue_event(result)) is not None:
            events.append((*issue_event, correlation))
    return events


class MessageFetchedHandler:
    """Consumes one `message.fetched` delivery with explicit acknowledgement."""

    def __init__(
        self,
        processor: Processor,
        publisher: EventPublisher,
        delivery_limit: int,
        database: DatabaseWaiter,
        *,
        database_wait_seconds: float = 600.0,
        backoff: Callable[[int], float] = retry_delay,
        metrics: IngestorMetrics | None = None,
    ) -> None:
        self._metrics = metrics if metrics is not None else IngestorMetrics()
        self._processor = processor
        self._publisher = publisher
        self._delivery_limit = delivery_limit
        self._database = database
        self._database_wait_seconds = database_wait_seconds
        self._backoff = backoff

    async def __call__(self, message: Delivery) -> None:
        await self.consume(message, self.handle)

    async def consume(self, message: Delivery, take: Take) -> None:
        """Decode `message` and hand each message it carries to `take` (`handle`, or the batches' `take`):
        a lone one at once, the messages of a `FetchedBatch` concurrently, each a delivery of its own."""
        decoded = await self._decode(message)
        if decoded is None:
            return
        if len(decoded) == 1:
            await take(*decoded[0])
        else:
            await asyncio.gather(*(take(part, fetched, attempt) for part, fetched, attempt in decoded))

    async def _decode(self, message: Delivery) -> list[tuple[Delivery, MessageFetched, int]] | None:
        """Each message the delivery carries (one, or a `FetchedBatch`'s), with the delivery to settle it
        through (`deliveries.parts`) and the attempt; None when the payload is invalid (then it is
        settled as `ack_policy.undecodable` says: dead-lettered)."""
        correlation = bus.correlation_id(message.headers)
        attempt = delivery_attempt(message.headers)
        try:
            messages = batched_events.fetched(message.body, correlation)
        except ValidationError as error:
            settlement = undecodable()
            log.error(
                "message.fetched payload is invalid, dead-lettering it",
                error=str(error).splitlines()[0],
                errors=error.error_count(),
                why=settlement.reason,
            )
            await _settle(message, settlement)
            return None
        return [(part, fetched, attempt) for part, fetched in parts(message, messages, correlation)]

    async def handle(self, message: Delivery, fetched: MessageFetched, attempt: int) -> None:
        """Process one delivery on its own and settle it (ack, requeue or dead-letter)."""
        correlation = bus.correlation_id(message.headers)
        fields = log_fields(fetched, correlation)
        with structlog.contextvars.bound_contextvars(**fields, uidvalidity=fetched.uidvalidity, attempt=attempt):
            await self._handle(message, fetched, attempt, correlation)

    async def _handle(self, message: Delivery, fetched: MessageFetched, attempt: int, correlation: str | None) -> None:
        deadline = time.monotonic() + self._database_wait_seconds
        retries_without_outage = 0
        while True:
            try:
                result = await self._processor.process(fetched, attempt)
                await self._publish(result, correlation)
                break
            except DatabaseUnavailable as error:
                waited = await self._wait_for_database(deadline)
                if waited is None:
                    await message.nack(requeue=True)  # stopping: another consumer (or this one, later) takes it
                    return
                retries_without_outage = 0 if waited >= AT_ONCE_SECONDS else retries_without_outage + 1
                if waited < 0 or retries_without_outage > MAX_RETRIES_WITHOUT_OUTAGE:
                    await self._retry_or_give_up(message, fetched, attempt, error, correlation)
                    return
            except Exception as error:  # transient: a failing statement, RabbitMQ.
                await self._retry_or_give_up(message, fetched, attempt, error, correlation)
                return
        await message.ack()
        processed = result.processed
        self._metrics.outcome_committed(fetched, processed.outcome, time.time())
        # The one-message path is the rarer one (repeats, attachments, retries): a line each at info.
        log.info(
            "message processed",
            outcome=processed.outcome.value,
            issue_number=processed.issue_number,
            reason=processed.reason,
        )

    async def _wait_for_database(self, deadline: float) -> float | None:
        """Seconds waited until the database answered; -1 when `deadline` passed first; None when stopping."""
        started = time.monotonic()
        wait = await self._database.wait_until_reachable(deadline - started)
        if wait is Wait.STOPPING:
            return None
        if wait is Wait.TIMED_OUT:
            log.warning(
                "database still unreachable, giving the message back", waited_seconds=self._database_wait_seconds
            )
            return -1.0
        return time.monotonic() - started

    async def _publish(self, result: Result, correlation: str | None) -> None:
        for event, routing_key, mandatory in events_of(result):
            await self._publisher.publish(event, routing_key, mandatory=mandatory, correlation=correlation)

    async def _retry_or_give_up(
        self, message: Delivery, fetched: MessageFetched, attempt: int, error: Exception, correlation: str | None
    ) -> None:
        description = f"{type(error).__name__}: {error}"
        settlement = settle(Ending.FAILED, attempt, self._delivery_limit, self._backoff)
        if settlement.action is Action.REQUEUE:
            log.warning(
                "processing failed, requeueing",
                error=description,
                retry_in=settlement.delay_seconds,
                why=settlement.reason,
            )
            await _settle(message, settlement)
            return
        log.error("processing failed on the last attempt, dead-lettering", error=description, why=settlement.reason)
        reason = f"processing failed {attempt} times; last error: {description}"
        failed = message_processed(
            fetched, fetched.message_id, Outcome.FAILED, reason, None, attempt, datetime.now(UTC)
        )
        try:
            await self._publisher.publish(failed, topology.MESSAGE_PROCESSED, correlation=correlation)
        except Exception as publish_error:  # the dead-letter queue still holds the message.
            log.error("could not publish the failed outcome", error=f"{type(publish_error).__name__}: {publish_error}")
        else:
            self._metrics.outcome_committed(fetched, Outcome.FAILED, time.time())
        await _settle(message, settlement)


async def _settle(message: Delivery, settlement: Settlement) -> None:
    """Do what `settlement` says with `message`: ack it, requeue it once its delay passed, or reject it."""
    if settlement.action is Action.ACK:
        await message.ack()
    elif settlement.action is Action.REQUEUE:
        # Held (unacked) while waiting; if the process stops meanwhile, RabbitMQ redelivers it.
        await asyncio.sleep(settlement.delay_seconds)
        await message.nack(requeue=True)
    else:
        # Rejected without requeue, a quorum queue dead-letters the message (x-dead-letter-exchange).
        await message.reject(requeue=False)
