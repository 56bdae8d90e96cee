"""`intake-replay-dlq` (`make replay-dlq`): move dead-lettered messages back to the queue they died in.

Each message is taken from `intake.dead-letter` unacknowledged, republished (persistent, mandatory,
confirmed) to the queue named by its `x-first-death-queue` header, and acked only after RabbitMQ
confirmed the republish, so a crash in between leaves a copy in one place or both, never in none.
It goes to that queue through the default exchange rather than back through `intake` with its
routing key: several queues are bound to each key, and the others already had their copy.
A message whose origin is unknown, or whose queue no longer exists, stays in the dead-letter queue.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aio_pika
from aio_pika.abc import AbstractIncomingMessage

from intake.shared import topology
from intake.shared.settings import DEFAULT_AMQP_URL, SettingsError

# Headers RabbitMQ sets per delivery; a republished message starts afresh.
_DELIVERY_HEADERS = ("x-delivery-count",)
UNKNOWN_ORIGIN = "(origin unknown)"


def origin_queue(headers: Mapping[str, Any]) -> str | None:
    """The queue a dead-lettered message first died in, from RabbitMQ's headers.

    >>> origin_queue({"x-first-death-queue": "ingestor.message-fetched"})
    'ingestor.message-fetched'
    >>> origin_queue({"x-death": [{"queue": "fetcher.message-processed", "reason": "delivery_limit"}]})
    'fetcher.message-processed'
    >>> origin_queue({}) is None
    True
    """
    first = headers.get("x-first-death-queue")
    if isinstance(first, bytes):
        first = first.decode("utf-8", "replace")
    if isinstance(first, str) and first:
        return first
    deaths = headers.get("x-death")
    if isinstance(deaths, list) and deaths and isinstance(deaths[-1], Mapping):
        # x-death lists the most recent death first; the oldest entry is the first death.
        queue = deaths[-1].get("queue")
        if isinstance(queue, bytes):
            queue = queue.decode("utf-8", "replace")
        if isinstance(queue, str) and queue:
            return queue
    return None


@dataclass
class Report:
    """What a run found in the dead-letter queue and what it did."""

    found: int = 0
    moved: Counter[str] = field(default_factory=Counter)
    kept: Counter[str] = field(default_factory=Counter)
    by_origin: Counter[str] = field(default_factory=Counter)

    def lines(self, dry_run: bool) -> list[str]:
        lines = [f"{topology.DEAD_LETTER_QUEUE_NAME} holds {self.found} message(s)"]
        if dry_run:
            lines += [f"  {count} from {queue}" for queue, count in sorted(self.by_origin.items())]
            lines.append("dry run: nothing moved")
            return lines
        lines += [f"moved {count} back to {queue}" for queue, count in sorted(self.moved.items())]
        lines += [f"kept {count}: {why}" for why, count in sorted(self.kept.items())]
        return lines


def _republished(message: AbstractIncomingMessage) -> aio_pika.Message:
    headers = {k: v for k, v in (message.headers or {}).items() if k not in _DELIVERY_HEADERS}
    return aio_pika.Message(
        message.body,
        headers=headers,
        content_type=message.content_type,
        content_encoding=message.content_encoding,
        delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
        priority=message.priority,
        correlation_id=message.correlation_id,
        message_id=message.message_id,
        timestamp=message.timestamp,
        type=message.type,
        app_id=message.app_id,
    )


async def replay_dead_letters(amqp_url: str, *, dry_run: bool = False, limit: int | None = None) -> Report:
    """Move up to `limit` (default: all present at the start) dead-lettered messages back; see the module docstring.

    Only the messages present when the run starts are looked at, so one that dies again at once
    is not replayed in a loop.
    """
    report = Report()
    connection = await aio_pika.connect(amqp_url)
    try:
        channel = await connection.channel(publisher_confirms=True, on_return_raises=True)
        queue = await channel.declare_queue(topology.DEAD_LETTER_QUEUE_NAME, passive=True)
        present = queue.declaration_result.message_count or 0
        report.found = present
        budget = present if limit is None else min(present, limit)
        # Messages taken and not acked (dry run, kept) stay unacknowledged on this channel until it
        # closes, so the next `get` returns the next message, and closing hands them all back.
        for _ in range(budget):
            message = await queue.get(no_ack=False, fail=False)
            if message is None:
                break
            origin = origin_queue(message.headers or {})
            report.by_origin[origin or UNKNOWN_ORIGIN] += 1
            if dry_run:
                continue
            if origin is None:
                report.kept["no x-first-death-queue header, so its origin is unknown"] += 1
                continue
            try:
                await channel.default_exchange.publish(
                    _republished(message), routing_key=origin, mandatory=True, timeout=10
                )
            except aio_pika.exceptions.DeliveryError:
                report.kept[f"queue {origin} does not exist"] += 1
                continue
            await message.ack()
            report.moved[origin] += 1
        await channel.close()
    finally:
        await connection.close()
    return report


def _amqp_url(env_file: Path | None) -> str:
    """INTAKE_AMQP_URL from the environment, else from `env_file` (as `make run` reads `.env`), else the default."""
    values: dict[str, str] = {}
    if env_file is not None and env_file.exists():
        for line in env_file.read_text().splitlines():
            line = line.strip()
            if line and not line.startswith("#") and "=" in line:
                key, value = line.split("=", 1)
                values[key.strip()] = value.strip()
    values.update({k: v for k, v in os.environ.items() if k.startswith("INTAKE_")})
    url = values.get("INTAKE_AMQP_URL", DEFAULT_AMQP_URL)
    if not url.startswith(("amqp://", "amqps://")):
        raise SettingsError("INTAKE_AMQP_URL is invalid: must start with amqp:// or amqps://")
    return url


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="intake-replay-dlq",
        description=f"Move messages from {topology.DEAD_LETTER_QUEUE_NAME} back to the queue each died in.",
    )
    parser.add_argument("--dry-run", action="store_true", help="count the messages by origin; move nothing")
    parser.add_argument("--limit", type=int, default=None, help="move at most this many messages")
    parser.add_argument("--env-file", type=Path, default=None, help="read INTAKE_AMQP_URL from this file if unset")
    args = parser.parse_args(argv)
    # A command, not a service: it reports errors itself in one line; the AMQP client's own log
    # lines (one per failed connect) would only repeat them.
    for name in ("aiormq", "aio_pika"):
        logging.getLogger(name).setLevel(logging.CRITICAL)
    if args.limit is not None and args.limit < 0:
        parser.error("--limit must be 0 or more")
    try:
        url = _amqp_url(args.env_file)
    except SettingsError as error:
        print(f"intake-replay-dlq: {error}", file=sys.stderr)
        return 2
    try:
        report = asyncio.run(replay_dead_letters(url, dry_run=args.dry_run, limit=args.limit))
    except (OSError, aio_pika.exceptions.AMQPException) as error:
        # The error's type and text name the host or the missing queue, never the URL's password.
        print(f"intake-replay-dlq: {type(error).__name__}: {error}", file=sys.stderr)
        return 2
    for line in report.lines(args.dry_run):
        print(line)
    # Non-zero when something had to stay, so a script notices.
    return 1 if report.kept else 0


if __name__ == "__main__":
    sys.exit(main())
