"""The `message.fetched` consumer: decode, process, publish `message.processed`, then ack, nack or reject.

Thin: acks only after the outcome is committed and its publish confirmed (DESIGN §2). A transient
error requeues the message; on its last delivery it publishes `failed` and dead-letters it. A payload
that is not a `MessageFetched` is dead-lettered at once.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Protocol

import structlog
from faststream.rabbit import RabbitBroker
from faststream.rabbit.message import RabbitMessage
from pydantic import ValidationError

from intake.shared import bus, topology
from intake.shared.contracts import MessageFetched, MessageProcessed, Outcome

log = structlog.get_logger(__name__)


class Processor(Protocol):
    async def process(self, fetched: MessageFetched, attempt: int) -> MessageProcessed: ...


def is_last_attempt(attempt: int, delivery_limit: int) -> bool:
    """RabbitMQ dead-letters a message once its delivery count exceeds the limit: limit + 1 deliveries.

    >>> is_last_attempt(5, 5), is_last_attempt(6, 5)
    (False, True)
    """
    return attempt > delivery_limit


class MessageFetchedHandler:
    """Consumes one `message.fetched` delivery with explicit acknowledgement."""

    def __init__(
        self,
        processor: Processor,
        broker: RabbitBroker,
        delivery_limit: int,
        *,
        backoff: Callable[[int], float] = bus.retry_delay,
    ) -> None:
        self._processor = processor
        self._broker = broker
        self._delivery_limit = delivery_limit
        self._backoff = backoff

    async def __call__(self, message: RabbitMessage) -> None:
        try:
            fetched = MessageFetched.model_validate_json(message.body)
        except ValidationError as error:
            log.error(
                "message.fetched payload is invalid, dead-lettering it",
                error=str(error).splitlines()[0],
                errors=error.error_count(),
            )
            await message.reject(requeue=False)
            return
        attempt = bus.delivery_attempt(message.headers)
        key = {"inbox_id": fetched.inbox_id, "uidvalidity": fetched.uidvalidity, "uid": fetched.uid}
        with structlog.contextvars.bound_contextvars(**key, attempt=attempt):
            try:
                processed = await self._processor.process(fetched, attempt)
                await bus.publish(self._broker, processed, topology.MESSAGE_PROCESSED)
            except Exception as error:  # anything here is transient: PostgreSQL or RabbitMQ.
                await self._retry_or_give_up(message, fetched, attempt, error)
                return
            await message.ack()
            log.info(
                "message processed",
                outcome=processed.outcome.value,
                issue_number=processed.issue_number,
                reason=processed.reason,
            )

    async def _retry_or_give_up(
        self, message: RabbitMessage, fetched: MessageFetched, attempt: int, error: Exception
    ) -> None:
        description = f"{type(error).__name__}: {error}"
        if not is_last_attempt(attempt, self._delivery_limit):
            delay = self._backoff(attempt)
            log.warning("processing failed, requeueing", error=description, retry_in=delay)
            # Held (unacked) while waiting; if the process stops meanwhile, RabbitMQ redelivers it.
            await asyncio.sleep(delay)
            await message.nack(requeue=True)
            return
        log.error("processing failed on the last attempt, dead-lettering", error=description)
        failed = MessageProcessed(
            inbox_id=fetched.inbox_id,
            uidvalidity=fetched.uidvalidity,
            uid=fetched.uid,
            raw_sha256=fetched.raw_sha256,
            message_id=fetched.message_id,
            outcome=Outcome.FAILED,
            reason=f"processing failed {attempt} times; last error: {description}",
            attempts=attempt,
            processed_at=datetime.now(UTC),
        )
        try:
            await bus.publish(self._broker, failed, topology.MESSAGE_PROCESSED)
        except Exception as publish_error:  # the dead-letter queue still holds the message.
            log.error("could not publish the failed outcome", error=f"{type(publish_error).__name__}: {publish_error}")
        # Rejected without requeue, a quorum queue dead-letters the message (x-dead-letter-exchange).
        await message.reject(requeue=False)
