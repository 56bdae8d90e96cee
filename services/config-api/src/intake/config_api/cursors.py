"""Opaque keyset cursors for the paginated lists: a position (timestamp, id) in a list sorted newest first.

Pure. A cursor is URL-safe base64 of a small JSON array; clients must treat it as opaque. A cursor that
does not decode is a client error (`InvalidCursor`), never a server error.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from datetime import UTC, datetime

# Ids are PostgreSQL bigints: a larger one cannot be sent as a query argument.
MAX_ROW_ID = 2**63 - 1


class InvalidCursor(ValueError):
    """The cursor was not made by this API (or was altered)."""


@dataclass(frozen=True, order=True)
class Position:
    """The sort key of the last row of a page: the next page starts strictly after (below) it."""

    at: datetime
    id: int


def encode_cursor(position: Position) -> str:
    """A cursor for `position`.

    >>> from datetime import timezone
    >>> encode_cursor(Position(datetime(2024, 1, 2, 3, 4, 5, 6, tzinfo=timezone.utc), 7))
    'WyIyMDI0LTAxLTAyVDAzOjA0OjA1LjAwMDAwNiswMDowMCIsN10'
    """
    raw = json.dumps([position.at.isoformat(), position.id], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def decode_cursor(cursor: str) -> Position:
    """The position in `cursor` (its time in UTC), or InvalidCursor.

    >>> decode_cursor(encode_cursor(Position(datetime(2024, 1, 2, tzinfo=UTC), 7)))
    Position(at=datetime.datetime(2024, 1, 2, 0, 0, tzinfo=datetime.timezone.utc), id=7)
    """
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        at_text, row_id = json.loads(raw)
        at = datetime.fromisoformat(at_text)
    except (binascii.Error, ValueError, TypeError, UnicodeDecodeError):
        raise InvalidCursor("not a cursor returned by this API") from None
    if at.tzinfo is None or type(row_id) is not int or not 0 <= row_id <= MAX_ROW_ID:
        raise InvalidCursor("not a cursor returned by this API")
    try:
        # Some offsets push the time outside datetime's years 1..9999 in UTC (0001-01-01T00:00:00+14:00).
        at = at.astimezone(UTC)
    except (OverflowError, ValueError):
        raise InvalidCursor("not a cursor returned by this API") from None
    return Position(at, row_id)


def next_cursor(positions: list[Position], limit: int) -> str | None:
    """The cursor of the page after one whose query asked for `limit + 1` rows and got `positions`.

    The extra row only says that there is more; the cursor points at the last row that is shown.
    """
    if len(positions) <= limit:
        return None
    return encode_cursor(positions[limit - 1])
