"""batching: which messages share a batch, and the one lock order every locker follows."""

from __future__ import annotations

from intake.ingestor.batch_rules import LockKeys, independent, lock_order


def test_the_first_message_is_always_kept() -> None:
    assert independent([frozenset({"a"}), frozenset({"a"})]) == ([0], [1])


def test_a_message_sharing_a_name_with_a_deferred_one_only_is_kept() -> None:
    # The second shares "a" with the first and is deferred; the third shares only "b" with the deferred one.
    assert independent([frozenset({"a"}), frozenset({"a", "b"}), frozenset({"b"})]) == ([0, 2], [1])


def test_messages_with_nothing_in_common_are_all_kept_in_order() -> None:
    assert independent([frozenset({n}) for n in range(5)]) == ([0, 1, 2, 3, 4], [])


def test_locks_go_by_kind_then_by_key_each_once() -> None:
    keys = [LockKeys(thread=9, message=-4, issue=2), LockKeys(thread=-1, message=7), LockKeys(thread=9)]
    assert lock_order(keys) == [-1, 9, -4, 7, 2]


def test_one_message_takes_its_keys_in_the_kind_order_too() -> None:
    assert lock_order([LockKeys(thread=5, message=1, issue=3)]) == [5, 1, 3]
