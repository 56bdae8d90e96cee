"""loop_changes.plan_changes: which inbox loops start, stop and restart."""

from __future__ import annotations

import doctest
from datetime import UTC, datetime

from intake.fetcher import loop_changes
from intake.fetcher.loop_changes import Plan, plan_changes

T0 = datetime(2024, 1, 1, tzinfo=UTC)


def test_docstring_examples() -> None:
    assert doctest.testmod(loop_changes).failed == 0


def test_plan_restarts_dead_loops() -> None:
    assert plan_changes({1: T0}, {1: T0}, dead=[1]) == Plan((), (), (1,))
    assert plan_changes({1: T0}, {1: T0}) == Plan((), (), ())
