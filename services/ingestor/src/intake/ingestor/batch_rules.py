"""Which prefetched messages can share one transaction, and the order a batch takes its locks in.

Pure. A batch stores several messages in one transaction with multi-row statements, so a message in
it cannot see what another message of the same batch stores. A batch therefore holds only messages
that have nothing in common (no lock key, no Message-ID they name); a message that has something in
common with an earlier one waits for the next batch, which begins after this one commits, so two
messages of one thread still end on one issue, in order.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class LockKeys:
    """One message's advisory-lock keys, by kind (the same keys the one-message path takes)."""

    thread: int
    message: int | None = None
    issue: int | None = None


def independent(names: Sequence[frozenset[Hashable]]) -> tuple[list[int], list[int]]:
    """Split positions into those that share no name with an earlier kept one, and the rest (in order).

    The first is always kept, so every batch makes progress.

    >>> independent([frozenset({"a"}), frozenset({"b"}), frozenset({"a", "c"}), frozenset({"c"})])
    ([0, 1, 3], [2])
    """
    taken: set[Hashable] = set()
    kept: list[int] = []
    deferred: list[int] = []
    for position, these in enumerate(names):
        if taken.isdisjoint(these):
            taken.update(these)
            kept.append(position)
        else:
            deferred.append(position)
    return kept, deferred


def lock_order(keys: Sequence[LockKeys]) -> list[int]:
    """Every key of the batch, in the one order all lockers follow: thread keys, then Message-ID keys,
    then issue keys, each kind ascending. One message takes its thread's, its Message-ID's and its
    issue's keys in that same kind order, so a batch and a single message (or two batches) never wait
    for each other in a cycle.

    >>> lock_order([LockKeys(5, 9), LockKeys(3, None, 7), LockKeys(4, 1)])
    [3, 4, 5, 1, 9, 7]
    """
    threads = sorted({key.thread for key in keys})
    messages = sorted({key.message for key in keys if key.message is not None})
    issues = sorted({key.issue for key in keys if key.issue is not None})
    return [*threads, *messages, *issues]
