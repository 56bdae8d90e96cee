"""Which deliveries of one channel are still unsettled, and how few acks settle a set of them (pure).

`basic.ack` with `multiple` settles every unsettled delivery of the channel up to the tag it names,
so one frame can settle a whole batch, but it must never reach a delivery still being worked on (that
delivery would be lost with a crash). `Unsettled` keeps a channel's unsettled tags oldest first; its
`plan` acks the oldest run of finished tags with one `multiple` ack and the rest one by one.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass


@dataclass(frozen=True)
class AckPlan:
    """One `multiple` ack up to and including `up_to` (if any), then one ack per tag in `each`."""

    up_to: int | None
    each: tuple[int, ...]


class Unsettled:
    """A channel's delivery tags not yet acked, nacked or rejected, oldest first.

    >>> unsettled = Unsettled()
    >>> for tag in (1, 2, 3, 4, 5):
    ...     unsettled.add(tag)
    >>> unsettled.plan([2, 1, 4])
    AckPlan(up_to=2, each=(4,))
    >>> unsettled.discard(3)
    >>> unsettled.plan([5])
    AckPlan(up_to=5, each=())
    >>> len(unsettled)
    0
    """

    def __init__(self) -> None:
        # Insertion-ordered; a channel delivers its tags in ascending order.
        self._tags: dict[int, None] = {}

    def __len__(self) -> int:
        return len(self._tags)

    def add(self, tag: int) -> None:
        self._tags[tag] = None

    def discard(self, tag: int) -> None:
        """Forget a tag settled another way (nacked, rejected, or acked on its own)."""
        self._tags.pop(tag, None)

    def plan(self, done: Collection[int]) -> AckPlan:
        """The acks that settle exactly `done` (unsettled tags of this channel), which are then forgotten.

        A tag in `done` that is not unsettled here is acked on its own (RabbitMQ refuses a tag it
        does not know, so this is the caller's mistake shown, not hidden).

        >>> unsettled = Unsettled()
        >>> unsettled.add(7)
        >>> unsettled.plan([8])
        AckPlan(up_to=None, each=(8,))
        """
        finished = set(done)
        up_to: int | None = None
        for tag in self._tags:
            if tag not in finished:
                break
            up_to = tag
        each = tuple(sorted(tag for tag in finished if up_to is None or tag > up_to))
        for tag in finished:
            self._tags.pop(tag, None)
        return AckPlan(up_to, each)
