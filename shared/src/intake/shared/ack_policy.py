"""The one rule for settling a delivery: ack it, requeue it after a delay, or reject it to the dead-letter queue.

Every consumer asks once it knows how handling a delivery ended (`settle`, or `undecodable` for a body
whose attempt does not matter) and does what the answer's `action` says (DESIGN §2):
- handled (committed, its publishes confirmed) → ack;
- undecodable (the body is not the contract) → reject at once: it can never succeed, and retrying it
  would only use up deliveries;
- failed → requeue after `retry_delay(attempt)`, until the attempt past the queue's delivery limit,
  which is rejected to the dead-letter queue (the queue would dead-letter it on that return anyway;
  rejecting says so in our own log, after the caller published what the failure means).

The attempt is 1-based and comes from a quorum queue's `x-delivery-count` (`delivery_attempt`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any


class Ending(StrEnum):
    """How handling one delivery ended."""

    HANDLED = "handled"
    UNDECODABLE = "undecodable"
    FAILED = "failed"


class Action(StrEnum):
    ACK = "ack"
    REQUEUE = "requeue"
    REJECT = "reject"


@dataclass(frozen=True)
class Settlement:
    """What to do with the delivery; `delay_seconds` to wait first (a requeue only), and why, in words."""

    action: Action
    delay_seconds: float
    reason: str


def delivery_attempt(headers: Mapping[str, Any]) -> int:
    """The 1-based delivery attempt from a quorum queue's `x-delivery-count` (absent on the first delivery).

    >>> delivery_attempt({}), delivery_attempt({"x-delivery-count": 2})
    (1, 3)
    """
    count = headers.get("x-delivery-count")
    return count + 1 if isinstance(count, int) and count >= 0 else 1


def retry_delay(attempt: int) -> float:
    """Seconds to wait before requeueing a failed attempt: 1, 2, 4, 8, then 16 at most.

    A requeue without a wait would let a PostgreSQL restart of a few seconds use up every delivery
    in milliseconds and dead-letter all messages in flight. Five retries wait 31 s in all.

    >>> [retry_delay(n) for n in (1, 2, 3, 5, 9)]
    [1.0, 2.0, 4.0, 16.0, 16.0]
    """
    return float(min(2 ** (attempt - 1), 16))


def is_last_attempt(attempt: int, delivery_limit: int) -> bool:
    """RabbitMQ dead-letters a message once its delivery count exceeds the limit: limit + 1 deliveries.

    >>> is_last_attempt(5, 5), is_last_attempt(6, 5)
    (False, True)
    """
    return attempt > delivery_limit


def undecodable() -> Settlement:
    """The settlement of a delivery whose body is not the contract, whatever its attempt: it can never succeed.

    >>> undecodable().action.value
    'reject'
    """
    return Settlement(Action.REJECT, 0.0, "not the contract: it can never succeed")


def settle(
    ending: Ending, attempt: int, delivery_limit: int, delay: Callable[[int], float] = retry_delay
) -> Settlement:
    """The settlement of a delivery whose handling ended so on its `attempt` (see the module docstring).

    >>> settle(Ending.FAILED, 2, 5)
    Settlement(action=<Action.REQUEUE: 'requeue'>, delay_seconds=2.0, reason='failed on attempt 2 of 6')
    >>> settle(Ending.FAILED, 6, 5).reason
    'failed on the last attempt (6 of 6)'
    """
    if ending is Ending.HANDLED:
        return Settlement(Action.ACK, 0.0, "handled")
    if ending is Ending.UNDECODABLE:
        return undecodable()
    if is_last_attempt(attempt, delivery_limit):
        return Settlement(Action.REJECT, 0.0, f"failed on the last attempt ({attempt} of {delivery_limit + 1})")
    return Settlement(Action.REQUEUE, delay(attempt), f"failed on attempt {attempt} of {delivery_limit + 1}")
