"""The Acknowledger against a channel that settles as RabbitMQ does, with acks racing each other."""

from __future__ import annotations

import asyncio
import random
from dataclasses import dataclass, field
from typing import Any, cast

import pytest
from aio_pika.abc import AbstractIncomingMessage

from intake.shared.acknowledger import Acknowledger, ChannelGone


class ChannelClosed(Exception):
    """What RabbitMQ does on a tag it does not know: PRECONDITION_FAILED, the channel closes."""


@dataclass
class RabbitChannel:
    """Outstanding tags as RabbitMQ keeps them; every frame yields to the event loop, as a send does."""

    outstanding: set[int] = field(default_factory=set)
    acked: set[int] = field(default_factory=set)
    requeued: set[int] = field(default_factory=set)
    is_closed: bool = False

    def _settle(self, tag: int) -> None:
        if tag not in self.outstanding:
            self.is_closed = True
            raise ChannelClosed(f"unknown delivery tag {tag}")
        self.outstanding.discard(tag)

    async def basic_ack(self, delivery_tag: int, multiple: bool = False) -> None:
        await asyncio.sleep(0)
        if multiple:
            covered = {tag for tag in self.outstanding if tag <= delivery_tag}
            self.outstanding -= covered
            self.acked |= covered
        else:
            self._settle(delivery_tag)
            self.acked.add(delivery_tag)

    async def basic_nack(self, delivery_tag: int, multiple: bool = False, requeue: bool = True) -> None:
        await asyncio.sleep(0)
        self._settle(delivery_tag)
        self.requeued.add(delivery_tag)

    async def basic_reject(self, delivery_tag: int, *, requeue: bool = True) -> None:
        await self.basic_nack(delivery_tag, requeue=requeue)


@dataclass
class Delivery:
    channel: Any
    delivery_tag: int


def deliveries(channel: RabbitChannel, acknowledger: Acknowledger, count: int) -> list[AbstractIncomingMessage]:
    messages = []
    for tag in range(1, count + 1):
        channel.outstanding.add(tag)
        message = cast(AbstractIncomingMessage, Delivery(channel, tag))
        acknowledger.received(message)
        messages.append(message)
    return messages


async def test_a_batch_after_an_unfinished_delivery_is_acked_one_by_one() -> None:
    channel, acknowledger = RabbitChannel(), Acknowledger()
    messages = deliveries(channel, acknowledger, 6)
    await acknowledger.ack(messages[1:4])  # 1 is still being worked on
    assert channel.acked == {2, 3, 4}
    assert 1 in channel.outstanding
    await acknowledger.ack([messages[0], messages[4], messages[5]])
    assert channel.outstanding == set()


@pytest.mark.parametrize("seed", range(30))
async def test_racing_acks_and_nacks_never_settle_a_tag_twice_nor_ack_a_nacked_one(seed: int) -> None:
    """Batches, single acks and nacks of one channel settle concurrently in random groups and orders."""
    chooser = random.Random(seed)
    channel, acknowledger = RabbitChannel(), Acknowledger()
    messages = deliveries(channel, acknowledger, 60)
    order = chooser.sample(messages, len(messages))
    groups: list[list[AbstractIncomingMessage]] = []
    while order:
        size = chooser.randint(1, 8)
        groups.append(order[:size])
        order = order[size:]
    nacked = {message.delivery_tag for message in chooser.sample(messages, 10)}

    async def settle(group: list[AbstractIncomingMessage]) -> None:
        await asyncio.sleep(chooser.random() / 1000)
        to_ack = [message for message in group if message.delivery_tag not in nacked]
        for message in group:
            if message.delivery_tag in nacked:
                await acknowledger.nack(message)
        await acknowledger.ack(to_ack)

    await asyncio.gather(*(settle(group) for group in groups))
    assert not channel.is_closed
    assert channel.outstanding == set()
    assert channel.requeued == nacked
    assert channel.acked == set(range(1, 61)) - nacked


class ClosedChannelDelivery:
    """A delivery whose channel has closed: aio-pika raises on `.channel`."""

    def __init__(self, tag: int) -> None:
        self.delivery_tag = tag

    @property
    def channel(self) -> Any:
        raise RuntimeError("channel closed")


async def test_deliveries_of_a_closed_channel_do_not_keep_the_open_channels_from_being_acked() -> None:
    """After a reconnect a batch can hold deliveries of the old channel and of the new one."""
    channel, acknowledger = RabbitChannel(), Acknowledger()
    new = deliveries(channel, acknowledger, 2)
    old = [cast(AbstractIncomingMessage, ClosedChannelDelivery(tag)) for tag in (7, 8)]
    with pytest.raises(ChannelGone):
        await acknowledger.ack([*old, *new])
    assert channel.acked == {1, 2}
    assert channel.outstanding == set()
