"""batches.plan: which UIDs are fetched together."""

from __future__ import annotations

from intake.fetcher.fetch_runs import Batch, plan


def test_small_messages_go_together_up_to_the_count() -> None:
    sizes = {uid: 100 for uid in range(1, 8)}
    assert plan(range(1, 8), sizes, set(sizes), max_bodies=3) == [
        Batch((1, 2, 3), (1, 2, 3)),
        Batch((4, 5, 6), (4, 5, 6)),
        Batch((7,), (7,)),
    ]


def test_a_batch_ends_before_its_bytes_would_pass_the_bound() -> None:
    sizes = {1: 40, 2: 40, 3: 40, 4: 100}
    assert plan([1, 2, 3, 4], sizes, set(sizes), max_bytes=100) == [
        Batch((1, 2), (1, 2)),
        Batch((3,), (3,)),
        Batch((4,), (4,)),  # alone it may fill the bound
    ]


def test_other_uids_stay_in_order_within_a_batch_and_are_not_fetched_together() -> None:
    sizes = {1: 10, 2: 10_000_000, 4: 10}  # 3 has no size
    assert plan([4, 3, 2, 1], sizes, {1, 4}) == [Batch((1, 2, 3, 4), (1, 4))]


def test_a_batch_has_at_most_max_uids_even_with_nothing_to_fetch_together() -> None:
    assert plan(range(1, 6), {}, set(), max_uids=2) == [Batch((1, 2), ()), Batch((3, 4), ()), Batch((5,), ())]


def test_nothing_to_plan() -> None:
    assert plan([], {}, set()) == []
