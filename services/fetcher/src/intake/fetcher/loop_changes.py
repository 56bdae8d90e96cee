"""Which inbox loops to start, stop and restart, from the loops running and the inboxes wanted (pure).

The supervisor (supervisor.py) asks this after each refresh; the leases decide what is wanted
(leases.py). No I/O here.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class Plan:
    start: tuple[int, ...]
    stop: tuple[int, ...]
    restart: tuple[int, ...]


def plan_changes(running: Mapping[int, datetime], wanted: Mapping[int, datetime], dead: Iterable[int] = ()) -> Plan:
    """Which inbox loops to start, stop and restart; values are each inbox's `updated_at`.

    >>> from datetime import datetime as d
    >>> plan_changes({1: d(2024, 1, 1), 2: d(2024, 1, 1)}, {2: d(2024, 1, 2), 3: d(2024, 1, 1)})
    Plan(start=(3,), stop=(1,), restart=(2,))
    """
    dead_ids = set(dead)
    return Plan(
        start=tuple(sorted(set(wanted) - set(running))),
        stop=tuple(sorted(set(running) - set(wanted))),
        restart=tuple(sorted(i for i in set(running) & set(wanted) if running[i] != wanted[i] or i in dead_ids)),
    )
