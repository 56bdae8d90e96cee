"""Which prefetched messages can share one transaction, the lock keys a message takes, and their order.

Pure. A batch stores several messages in one transaction with multi-row statements, so a message in
it cannot see what another message of the same batch stores. A batch therefore holds only messages
that have nothing in common (no lock key, no Message-ID they name); a message that has something in
common with an earlier one waits for the next batch, which begins after this one commits, so two
messages of one thread still end on one issue, in order.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from dataclasses import dataclass

from intake.ingestor.threads import issue_lock_key, message_lock_key, thread_lock_key


@dataclass(frozen=True)
class LockKeys:
    """One message's advisory-lock keys, by kind (`lock_keys`), on the one-message path and in a batch."""

    thread: int
    message: int | None = None
    issue: int | None = None


def lock_keys(
    inbox_id: int, root: str | None, raw_sha256: str, message_id: str | None, existing_issue: int | None
) -> LockKeys:
    """The keys one message takes, on the one-message path and in a batch: its thread's, its Message-ID's
    (two copies of one message under different thread roots), and the issue its subject tag names when
    that issue exists (a tagged message ties its thread root to that issue)."""
    return LockKeys(
        thread=thread_lock_key(inbox_id, root, raw_sha256),
        message=message_lock_key(inbox_id, message_id) if message_id is not None else None,
        issue=issue_lock_key(existing_issue) if existing_issue is not None else None,
    )


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
