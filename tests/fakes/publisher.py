"""A fake `EventPublisher`: keeps what was published, and fails the routing keys a test names."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from intake.shared.contracts import Contract


class Unconfirmed(Exception):
    """What the fake raises for a publish a test made fail (RabbitMQ nacked or returned it)."""


@dataclass
class FakePublisher:
    """Records each confirmed publish as (event, routing key, mandatory, correlation id), in order.

    `failing` holds routing keys whose publishes fail (with `Unconfirmed`), until a test removes them.
    """

    published: list[tuple[Contract, str, bool, str | None]] = field(default_factory=list)
    failing: set[str] = field(default_factory=set)

    async def publish(
        self, event: Contract, routing_key: str, *, mandatory: bool = True, correlation: str | None = None
    ) -> None:
        if routing_key in self.failing:
            raise Unconfirmed(f"{routing_key} not confirmed")
        self.published.append((event, routing_key, mandatory, correlation))

    async def publish_each(
        self,
        events: Sequence[tuple[Contract, str, bool]],
        correlations: Sequence[str | None] | None = None,
    ) -> list[BaseException | None]:
        correlated = correlations if correlations is not None else [None] * len(events)
        results: list[BaseException | None] = []
        for (event, routing_key, mandatory), correlation in zip(events, correlated, strict=True):
            try:
                await self.publish(event, routing_key, mandatory=mandatory, correlation=correlation)
            except Exception as error:  # as the real one: every failure is the event's own result
                results.append(error)
            else:
                results.append(None)
        return results

    def events(self, routing_key: str) -> list[Contract]:
        """The events confirmed on `routing_key`, in order."""
        return [event for event, key, _, _ in self.published if key == routing_key]
