"""Splitting a batch into rounds in which each key appears once (pure).

One multi-row statement may touch a row only once (`ON CONFLICT DO UPDATE` refuses a second time, an
`UPDATE … FROM` would pick one match), so a batch that names a row twice is applied in rounds, in
order: the result equals applying its items one by one.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Hashable, Sequence
from typing import TypeVar

T = TypeVar("T")


def in_rounds(items: Sequence[T], key: Callable[[T], Hashable]) -> list[list[T]]:
    """Split `items` into rounds in which each key appears once: the n-th item with a key goes to round
    n, so applying the rounds in order equals applying the items one by one.

    >>> in_rounds(["a1", "b1", "a2", "c1", "a3"], key=lambda item: item[0])
    [['a1', 'b1', 'c1'], ['a2'], ['a3']]
    """
    rounds: list[list[T]] = []
    seen: Counter[Hashable] = Counter()
    for item in items:
        number = seen[key(item)]
        seen[key(item)] += 1
        if number == len(rounds):
            rounds.append([])
        rounds[number].append(item)
    return rounds
