"""Settling a consumer's deliveries with as few frames as its channels allow: one ack for many.

Every ack, nack and reject of a consumer goes through its `Acknowledger`, which keeps each channel's
unsettled delivery tags (`settlements.Unsettled`) and so knows when a `multiple` ack may settle a
whole run at once without reaching a delivery still being worked on. A consumer using one must
settle nothing on that channel any other way, and share the channel with no other consumer.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Mapping, Sequence
from typing import Any

import structlog
from aio_pika.abc import AbstractIncomingMessage
from aiormq.abc import AbstractChannel

from intake.shared.settlements import Unsettled

log = structlog.get_logger(__name__)


class ChannelGone(Exception):
    """Some deliveries could not be acked because their channel closed; RabbitMQ redelivers them."""


def _tag(message: AbstractIncomingMessage) -> int:
    if message.delivery_tag is None:  # only a no-ack consumer gets none, and it settles nothing.
        raise ValueError("a delivery without a delivery tag cannot be settled")
    return message.delivery_tag


class Acknowledger:
    """The unsettled deliveries of one consumer, per channel; see the module docstring."""

    def __init__(self) -> None:
        # Keyed by the channel object: a reconnected channel numbers its deliveries from 1 again.
        self._unsettled: dict[int, tuple[AbstractChannel, Unsettled]] = {}
        # Planning and sending happen under one lock, so frames go out in the order they were planned:
        # a single ack, nack or reject planned before a `multiple` ack is sent before it (RabbitMQ
        # closes the channel on a tag that a `multiple` already settled, and a `multiple` sent before a
        # planned nack would ack that delivery instead).
        self._sending = asyncio.Lock()

    def _of(self, channel: AbstractChannel) -> Unsettled:
        entry = self._unsettled.get(id(channel))
        if entry is None or entry[0] is not channel:
            # A new channel (first use or after a reconnect): what closed ones held comes back anyway.
            self._unsettled = {key: kept for key, kept in self._unsettled.items() if not kept[0].is_closed}
            entry = self._unsettled[id(channel)] = (channel, Unsettled())
        return entry[1]

    def received(self, message: AbstractIncomingMessage) -> None:
        """Call first thing for every delivery."""
        self._of(message.channel).add(_tag(message))

    async def ack(self, messages: Sequence[AbstractIncomingMessage]) -> None:
        """Ack all of `messages` (received, not yet settled): one `multiple` ack for the oldest run of
        each channel, single acks for the rest. Every channel still open gets its acks; afterwards
        the first error of any channel is raised, or `ChannelGone` for deliveries whose channel had
        closed (RabbitMQ redelivers whatever it did not get)."""
        by_channel: dict[int, tuple[AbstractChannel, list[int]]] = {}
        gone = 0
        for message in messages:
            try:
                channel = message.channel
            except Exception:  # its channel closed (aio-pika raises): RabbitMQ has given it back already.
                gone += 1
                continue
            by_channel.setdefault(id(channel), (channel, []))[1].append(_tag(message))
        failure: Exception | None = None
        async with self._sending:
            for channel, tags in by_channel.values():
                plan = self._of(channel).plan(tags)
                try:
                    if plan.up_to is not None:
                        await channel.basic_ack(plan.up_to, multiple=True)
                    for tag in plan.each:
                        await channel.basic_ack(tag)
                except Exception as error:  # this channel only: the others' deliveries are still acked.
                    failure = failure or error
        if failure is not None:
            raise failure
        if gone:
            raise ChannelGone(f"{gone} of {len(messages)} deliveries came on a channel that has closed since")

    async def nack(self, message: AbstractIncomingMessage, *, requeue: bool = True) -> None:
        async with self._sending:
            self._of(message.channel).discard(_tag(message))
            await message.channel.basic_nack(_tag(message), requeue=requeue)

    async def reject(self, message: AbstractIncomingMessage, *, requeue: bool = False) -> None:
        async with self._sending:
            self._of(message.channel).discard(_tag(message))
            await message.channel.basic_reject(_tag(message), requeue=requeue)

    def delivery(self, message: AbstractIncomingMessage) -> Settled:
        """`message` with its ack, nack and reject going through this acknowledger."""
        return Settled(message, self)


class Settled:
    """A delivery whose settling goes through an `Acknowledger` (the shape handlers settle through)."""

    def __init__(self, message: AbstractIncomingMessage, acknowledger: Acknowledger) -> None:
        self.message = message
        self._acknowledger = acknowledger

    @property
    def body(self) -> bytes:
        return self.message.body

    @property
    def headers(self) -> Mapping[str, Any]:
        return self.message.headers or {}

    def ack(self) -> Awaitable[None]:
        return self._acknowledger.ack([self.message])

    def nack(self, *, requeue: bool = True) -> Awaitable[None]:
        return self._acknowledger.nack(self.message, requeue=requeue)

    def reject(self, *, requeue: bool = False) -> Awaitable[None]:
        return self._acknowledger.reject(self.message, requeue=requeue)
