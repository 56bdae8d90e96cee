"""Splitting a batch into rounds of distinct keys, so one statement per round equals one by one."""

from __future__ import annotations

import pytest

from intake.shared.key_rounds import in_rounds


@pytest.mark.parametrize(
    ("items", "rounds"),
    [
        ([], []),
        (["a1"], [["a1"]]),
        (["a1", "b1", "c1"], [["a1", "b1", "c1"]]),
        (["a1", "a2", "a3"], [["a1"], ["a2"], ["a3"]]),
        (["a1", "b1", "b2", "a2", "c1", "b3"], [["a1", "b1", "c1"], ["b2", "a2"], ["b3"]]),
    ],
)
def test_the_nth_item_of_a_key_goes_to_round_n_in_order(items: list[str], rounds: list[list[str]]) -> None:
    assert in_rounds(items, key=lambda item: item[0]) == rounds
