"""How long an inbox loop waits before reconnecting after consecutive failures (pure)."""

from __future__ import annotations

import random

BASE_DELAY_SECONDS = 1.0


def reconnect_delay(failures: int, max_seconds: float, jitter: float | None = None) -> float:
    """Exponential backoff with full jitter: `failures` is how many attempts in a row failed (≥ 1).

    `jitter` in [0, 1) replaces the random draw (for tests).

    >>> reconnect_delay(1, 300, jitter=0.0)
    0.5
    >>> reconnect_delay(20, 300, jitter=0.999) < 300
    True
    """
    ceiling = min(max_seconds, BASE_DELAY_SECONDS * 2.0 ** min(max(failures, 1) - 1, 30))
    draw: float = random.random() if jitter is None else jitter  # noqa: S311 - timing jitter, not security
    # Half fixed, half random: never hammer at once, never sleep much less than the step.
    return ceiling / 2 + ceiling / 2 * draw
