"""The live view's change window: late commits are caught once, marks resume a stream, events frame data."""

from __future__ import annotations

import doctest
from datetime import UTC, datetime, timedelta

from intake.config_api import live_changes
from intake.config_api.live_changes import OVERLAP, ChangeWindow, decode_mark, encode_mark, sse_event

T0 = datetime(2025, 3, 1, 12, tzinfo=UTC)


def test_docstring_examples() -> None:
    result = doctest.testmod(live_changes)
    assert result.attempted > 0
    assert result.failed == 0


def test_a_late_commit_with_an_older_time_is_still_passed_on_once() -> None:
    window = ChangeWindow(T0)
    assert window.unseen([(1, T0 + timedelta(seconds=3))]) == [(1, T0 + timedelta(seconds=3))]
    # A transaction that started before row 1's but committed after it: older time, within the overlap.
    late = (2, T0 + timedelta(seconds=1))
    assert window.poll_from <= late[1]
    assert window.unseen([late, (1, T0 + timedelta(seconds=3))]) == [late]
    assert window.unseen([late]) == []


def test_the_same_row_changed_again_is_a_new_change() -> None:
    window = ChangeWindow(T0)
    window.unseen([(1, T0)])
    assert window.unseen([(1, T0), (1, T0 + timedelta(seconds=2))]) == [(1, T0 + timedelta(seconds=2))]


def test_seen_changes_older_than_the_overlap_are_forgotten() -> None:
    window = ChangeWindow(T0)
    window.unseen([(1, T0), (2, T0 + OVERLAP * 3)])
    assert window.mark == T0 + OVERLAP * 3
    assert (1, T0) not in window._seen  # bounded memory: the next poll does not read that far back
    assert window.poll_from == T0 + OVERLAP * 2


def test_marks_round_trip_and_are_bounded() -> None:
    now = T0
    assert decode_mark(encode_mark(now - timedelta(minutes=5)), now) == now - timedelta(minutes=5)
    assert decode_mark(encode_mark(now - timedelta(days=3)), now) == now - timedelta(hours=1)
    assert decode_mark(encode_mark(now + timedelta(days=1)), now) == now
    assert decode_mark("2025-03-01T11:00:00", now) == now  # no offset: not one of ours
    assert decode_mark("0001-01-01T00:00:00+14:00", now) == now
    assert decode_mark(None, now) == now


def test_event_data_cannot_break_the_framing() -> None:
    framed = sse_event("row", "one\r\ntwo\rthree\n", "9")
    assert framed == "event: row\nid: 9\ndata: one\ndata: two\ndata: three\n\n"
    assert sse_event("ping", "") == "event: ping\ndata: \n\n"
