"""Reconnect backoff: grows, is capped, and is jittered within bounds."""

from __future__ import annotations

import doctest

import pytest

from intake.fetcher import backoff
from intake.fetcher.backoff import reconnect_delay


def test_docstring_examples() -> None:
    assert doctest.testmod(backoff).failed == 0


@pytest.mark.parametrize(
    ("failures", "low", "high"),
    [(0, 0.5, 1.0), (1, 0.5, 1.0), (2, 1.0, 2.0), (4, 4.0, 8.0), (30, 150.0, 300.0), (10_000, 150.0, 300.0)],
)
def test_bounds(failures: int, low: float, high: float) -> None:
    assert reconnect_delay(failures, 300, jitter=0.0) == low
    assert low <= reconnect_delay(failures, 300) <= high
    assert reconnect_delay(failures, 300, jitter=0.999999) < high
