"""The port the services publish contracts through (`EventPublisher`), and its RabbitMQ adapter.

The shells that publish (the fetcher's publishing step, the ingestor's handlers, config-api's
reprocess and inbox events) depend on `EventPublisher`, not on a faststream broker, so their unit
tests run with a hand-written fake (`tests/fakes/publisher.py`). `BrokerPublisher` is the one real
implementation: `bus.publish` and `bus.publish_each` on a connected broker (persistent, confirmed,
mandatory unless said otherwise).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from faststream.rabbit import RabbitBroker

from intake.shared import bus
from intake.shared.contracts import Contract


class EventPublisher(Protocol):
    """Publishes contracts on the `intake` exchange; each call returns once RabbitMQ confirmed."""

    async def publish(
        self, event: Contract, routing_key: str, *, mandatory: bool = True, correlation: str | None = None
    ) -> None:
        """One event; raises when it is not confirmed (or, if `mandatory`, not routable)."""
        ...

    async def publish_each(
        self,
        events: Sequence[tuple[Contract, str, bool]],
        correlations: Sequence[str | None] | None = None,
    ) -> list[BaseException | None]:
        """Each (event, routing key, mandatory) at once; per event None when confirmed, else its error."""
        ...


async def publish_all(
    publisher: EventPublisher,
    events: Sequence[tuple[Contract, str, bool]],
    correlations: Sequence[str | None] | None = None,
) -> None:
    """`publish_each`, then raise the first failure (the others may have been delivered: consumers dedupe)."""
    for result in await publisher.publish_each(events, correlations):
        if result is not None:
            raise result


@dataclass(frozen=True)
class BrokerPublisher:
    """`EventPublisher` on a faststream broker (see `bus.publish` and `bus.publish_each`)."""

    broker: RabbitBroker

    async def publish(
        self, event: Contract, routing_key: str, *, mandatory: bool = True, correlation: str | None = None
    ) -> None:
        await bus.publish(self.broker, event, routing_key, mandatory=mandatory, correlation=correlation)

    async def publish_each(
        self,
        events: Sequence[tuple[Contract, str, bool]],
        correlations: Sequence[str | None] | None = None,
    ) -> list[BaseException | None]:
        return await bus.publish_each(self.broker, events, correlations)
