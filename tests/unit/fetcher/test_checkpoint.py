"""UID checkpoint arithmetic, table-driven."""

from __future__ import annotations

import doctest

import pytest

from intake.fetcher import checkpoint
from intake.fetcher.checkpoint import (
    Checkpoint,
    Selection,
    advance,
    finish_scan,
    reconcile,
    search_criteria,
    select_new,
    start,
)
from intake.shared.inbox_vocabulary import FirstFetch


def test_docstring_examples() -> None:
    assert doctest.testmod(checkpoint).failed == 0


@pytest.mark.parametrize(
    ("uidvalidity", "uidnext", "first_fetch", "expected"),
    [
        (5, 11, FirstFetch.ALL, Checkpoint(5, 0, None)),
        (5, 11, FirstFetch.UNREAD, Checkpoint(5, 0, 10)),
        (5, 1, FirstFetch.UNREAD, Checkpoint(5, 0, None)),  # empty folder: nothing to filter
        (5, None, FirstFetch.UNREAD, Checkpoint(5, 0, None)),  # no UIDNEXT, no ceiling: take all
    ],
)
def test_start(uidvalidity: int, uidnext: int | None, first_fetch: FirstFetch, expected: Checkpoint) -> None:
    assert start(uidvalidity, uidnext, first_fetch) == expected


@pytest.mark.parametrize(
    ("stored", "uidvalidity", "expected", "changed", "reason"),
    [
        (None, 7, Checkpoint(7, 0, 9), True, "first connection"),
        (Checkpoint(7, 4), 7, Checkpoint(7, 4), False, "resuming"),
        (Checkpoint(6, 4), 7, Checkpoint(7), True, "UIDVALIDITY changed from 6 to 7; re-scanning every message"),
    ],
)
def test_reconcile(
    stored: Checkpoint | None, uidvalidity: int, expected: Checkpoint, changed: bool, reason: str
) -> None:
    result = reconcile(stored, uidvalidity, 10, FirstFetch.UNREAD)
    assert (result.checkpoint, result.changed, result.reason) == (expected, changed, reason)


@pytest.mark.parametrize(
    ("cp", "criteria"),
    [
        (Checkpoint(1, 0), ("UID", "1:*")),
        (Checkpoint(1, 41), ("UID", "42:*")),
        (Checkpoint(1, 0, 10), ("UNSEEN", "UID", "1:10")),
        (Checkpoint(1, 3, 10), ("UNSEEN", "UID", "4:10")),
    ],
)
def test_search_criteria(cp: Checkpoint, criteria: tuple[str, ...]) -> None:
    assert search_criteria(cp) == criteria


@pytest.mark.parametrize(
    ("cp", "found", "limit", "expected"),
    [
        (Checkpoint(1, 5), [], 10, Selection((), False)),
        (Checkpoint(1, 5), [5], 10, Selection((), False)),  # `5:*` on a folder whose highest UID is 5
        (Checkpoint(1, 5), [3], 10, Selection((), False)),  # ... or lower
        (Checkpoint(1, 5), [9, 6, 7, 7], 10, Selection((6, 7, 9), False)),
        (Checkpoint(1, 5), [6, 7, 8], 2, Selection((6, 7), True)),
        (Checkpoint(1, 0, 4), [2, 4, 5], 10, Selection((2, 4), False)),  # above the ceiling is not initial
    ],
)
def test_select_new(cp: Checkpoint, found: list[int], limit: int, expected: Selection) -> None:
    assert select_new(cp, found, limit) == expected


@pytest.mark.parametrize(
    ("cp", "uid", "expected"),
    [
        (Checkpoint(1, 5), 6, Checkpoint(1, 6)),
        (Checkpoint(1, 5), 3, Checkpoint(1, 5)),  # never backwards
        (Checkpoint(1, 0, 10), 4, Checkpoint(1, 4, 10)),
        (Checkpoint(1, 0, 10), 10, Checkpoint(1, 10, None)),  # the initial scan reached its ceiling
    ],
)
def test_advance(cp: Checkpoint, uid: int, expected: Checkpoint) -> None:
    assert advance(cp, uid) == expected


@pytest.mark.parametrize(
    ("cp", "selection", "expected"),
    [
        (Checkpoint(1, 4), Selection((4,), False), Checkpoint(1, 4)),
        (Checkpoint(1, 4, 10), Selection((4,), True), Checkpoint(1, 4, 10)),  # more unread left below 10
        (Checkpoint(1, 4, 10), Selection((4,), False), Checkpoint(1, 10, None)),
        (Checkpoint(1, 0, 10), Selection((), False), Checkpoint(1, 10, None)),  # nothing unread at all
    ],
)
def test_finish_scan(cp: Checkpoint, selection: Selection, expected: Checkpoint) -> None:
    assert finish_scan(cp, selection) == expected


def test_a_first_scan_without_uidnext_never_hides_later_mail() -> None:
    checkpoint = start(7, None, FirstFetch.UNREAD)
    first = select_new(checkpoint, [3, 5], limit=10)
    for uid in first.uids:
        checkpoint = advance(checkpoint, uid)
    checkpoint = finish_scan(checkpoint, first)
    assert checkpoint.last_uid == 5
    assert select_new(checkpoint, [5, 9], limit=10).uids == (9,)
