"""What the `message.fetched` handlers settle: a `Delivery`, and the parts of one that carries several messages.

A delivery of a `FetchedBatch` is seen as one delivery per message (`parts`). Each part goes its own
way (into a batch, or down the one-message path) and is settled on its own, as a delivery would be;
the delivery itself is settled when its last part is (`combined`):
- every part acked → the delivery is acked;
- any part rejected (a message given up on after its last attempt, its `failed` published) → the
  delivery is rejected to the dead-letter queue, whole;
- otherwise (a part requeued: a transient failure, or a stop) → the delivery goes back to the queue.

Parts that were done come back with it and re-emit their stored outcome: a redelivered message is
never processed twice (DESIGN §2). A part never settled (the ingestor stopped first) leaves the
delivery unacknowledged, and RabbitMQ gives it back when the channel closes.
"""

from __future__ import annotations

from collections.abc import Awaitable, Iterable, Mapping, Sequence
from enum import IntEnum
from typing import Any, Protocol

import structlog

from intake.shared import topology
from intake.shared.contracts import MessageFetched

log = structlog.get_logger(__name__)


class Delivery(Protocol):
    """One `message.fetched` delivery as aio-pika hands it over (or a part of one), settled explicitly."""

    @property
    def body(self) -> bytes: ...
    @property
    def headers(self) -> Mapping[str, Any]: ...
    def ack(self) -> Awaitable[None]: ...
    def nack(self, *, requeue: bool = True) -> Awaitable[None]: ...
    def reject(self, *, requeue: bool = False) -> Awaitable[None]: ...


class Verdict(IntEnum):
    """How a part was settled; the larger value wins for the delivery (`combined`)."""

    ACK = 0
    REQUEUE = 1
    REJECT = 2


def combined(verdicts: Iterable[Verdict]) -> Verdict:
    """The delivery's settlement from its parts': a rejection over a requeue over an ack.

    >>> combined([Verdict.ACK, Verdict.ACK]).name, combined([Verdict.ACK, Verdict.REQUEUE]).name
    ('ACK', 'REQUEUE')
    >>> combined([Verdict.REQUEUE, Verdict.REJECT, Verdict.ACK]).name
    'REJECT'
    """
    return max(verdicts, default=Verdict.ACK)


class _Whole:
    """The delivery whose parts are settled one by one; settles it when the last one is."""

    def __init__(self, delivery: Delivery, parts: int) -> None:
        self.delivery = delivery
        self._left = parts
        self._verdicts: list[Verdict] = []

    async def settle(self, verdict: Verdict) -> None:
        self._verdicts.append(verdict)
        self._left -= 1
        if self._left:
            return
        final = combined(self._verdicts)
        if final is Verdict.ACK:
            await self.delivery.ack()
        elif final is Verdict.REQUEUE:
            await self.delivery.nack(requeue=True)
        else:
            log.warning(
                "a message of a fetched batch was given up on; dead-lettering the batch", parts=len(self._verdicts)
            )
            await self.delivery.reject(requeue=False)


class Part:
    """One message of a batched delivery, with the `Delivery` shape the handlers settle through."""

    def __init__(self, whole: _Whole, fetched: MessageFetched, correlation: str | None) -> None:
        self._whole = whole
        self._fetched = fetched
        self._correlation = correlation
        self._settled = False

    @property
    def body(self) -> bytes:
        return self._fetched.model_dump_json().encode()

    @property
    def headers(self) -> Mapping[str, Any]:
        """The delivery's headers (its delivery count, so its attempt), with this message's correlation id."""
        headers = {k: v for k, v in self._whole.delivery.headers.items() if k != topology.CORRELATION_HEADER}
        if self._correlation is not None:
            headers[topology.CORRELATION_HEADER] = self._correlation
        return headers

    async def _settle(self, verdict: Verdict) -> None:
        if self._settled:  # a handler settles each delivery once; a second call would miscount the whole.
            raise RuntimeError("a part of a fetched batch was settled twice")
        self._settled = True
        await self._whole.settle(verdict)

    async def ack(self) -> None:
        await self._settle(Verdict.ACK)

    async def nack(self, *, requeue: bool = True) -> None:
        await self._settle(Verdict.REQUEUE if requeue else Verdict.REJECT)

    async def reject(self, *, requeue: bool = False) -> None:
        await self._settle(Verdict.REQUEUE if requeue else Verdict.REJECT)


def parts(
    delivery: Delivery, messages: Sequence[tuple[MessageFetched, str | None]], delivery_correlation: str | None
) -> list[tuple[Delivery, MessageFetched]]:
    """Each message of `delivery` with the delivery to settle it through: the delivery itself when it
    carries one message under its own correlation id (a lone `MessageFetched`), else a `Part` each."""
    if len(messages) == 1 and messages[0][1] == delivery_correlation:
        return [(delivery, messages[0][0])]
    whole = _Whole(delivery, len(messages))
    return [(Part(whole, fetched, correlation), fetched) for fetched, correlation in messages]
