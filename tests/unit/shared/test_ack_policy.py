"""ack_policy.settle: the one table of how a delivery is settled, by how its handling ended and its attempt."""

from __future__ import annotations

import pytest

from intake.shared.ack_policy import Action, Ending, delivery_attempt, settle

LIMIT = 5  # INTAKE_DELIVERY_LIMIT's default: attempts 1..5 may be retried, the 6th is the last


@pytest.mark.parametrize(
    ("ending", "attempt", "action", "delay"),
    [
        (Ending.HANDLED, 1, Action.ACK, 0.0),
        (Ending.HANDLED, 6, Action.ACK, 0.0),
        (Ending.UNDECODABLE, 1, Action.REJECT, 0.0),
        (Ending.UNDECODABLE, 3, Action.REJECT, 0.0),
        (Ending.FAILED, 1, Action.REQUEUE, 1.0),
        (Ending.FAILED, 2, Action.REQUEUE, 2.0),
        (Ending.FAILED, 3, Action.REQUEUE, 4.0),
        (Ending.FAILED, 4, Action.REQUEUE, 8.0),
        (Ending.FAILED, 5, Action.REQUEUE, 16.0),
        (Ending.FAILED, 6, Action.REJECT, 0.0),
        (Ending.FAILED, 9, Action.REJECT, 0.0),
    ],
)
def test_settlement_table(ending: Ending, attempt: int, action: Action, delay: float) -> None:
    settlement = settle(ending, attempt, LIMIT)
    assert (settlement.action, settlement.delay_seconds) == (action, delay)
    assert settlement.reason


def test_a_given_delay_replaces_the_growing_one() -> None:
    assert settle(Ending.FAILED, 3, LIMIT, delay=lambda attempt: 0.5).delay_seconds == 0.5


@pytest.mark.parametrize(
    ("headers", "attempt"),
    [({}, 1), ({"x-delivery-count": 0}, 1), ({"x-delivery-count": 4}, 5), ({"x-delivery-count": "x"}, 1)],
)
def test_the_attempt_comes_from_the_quorum_queues_delivery_count(headers: dict[str, object], attempt: int) -> None:
    assert delivery_attempt(headers) == attempt
