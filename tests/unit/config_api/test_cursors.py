"""Keyset cursors: round trip, refusal of anything not made by the API, and where the next page starts."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta, timezone

import pytest

from intake.config_api.cursors import InvalidCursor, Position, decode_cursor, encode_cursor, next_cursor

AT = datetime(2025, 5, 6, 7, 8, 9, 123456, tzinfo=UTC)


@pytest.mark.parametrize(
    "position",
    [
        Position(AT, 1),
        Position(AT, 2**63 - 1),
        Position(AT.astimezone(timezone(timedelta(hours=-5))), 9),
    ],
)
def test_round_trip(position: Position) -> None:
    cursor = encode_cursor(position)
    assert decode_cursor(cursor) == position
    assert cursor.isascii()
    assert "=" not in cursor  # safe in a query string as is


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


@pytest.mark.parametrize(
    "cursor",
    [
        "",
        "!!!",
        "abc",
        _b64(b"not json"),
        _b64(b"[1, 2]"),
        _b64(b'["2025-01-01T00:00:00", 1]'),  # no time zone
        _b64(b'["2025-01-01T00:00:00+00:00", "1"]'),
        _b64(b'["2025-01-01T00:00:00+00:00", true]'),
        _b64(b'["2025-01-01T00:00:00+00:00", -1]'),
        _b64(b'["2025-01-01T00:00:00+00:00", 1, 2]'),
        _b64(b'{"at": 1}'),
        _b64(b"\xff\xfe"),
        _b64(b'["2025-01-01T00:00:00+00:00", 9223372036854775808]'),  # beyond a PostgreSQL bigint
        _b64(b'["0001-01-01T00:00:00+14:00", 1]'),  # before year 1 in UTC
        _b64(b'["9999-12-31T23:59:59-14:00", 1]'),  # after year 9999 in UTC
    ],
)
def test_foreign_cursors_are_refused(cursor: str) -> None:
    with pytest.raises(InvalidCursor):
        decode_cursor(cursor)


def test_next_cursor_points_at_the_last_shown_row() -> None:
    positions = [Position(AT - timedelta(seconds=i), 10 - i) for i in range(4)]
    assert next_cursor(positions, 3) == encode_cursor(positions[2])
    assert next_cursor(positions[:3], 3) is None
    assert next_cursor([], 3) is None
