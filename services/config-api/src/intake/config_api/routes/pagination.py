"""The `limit` and `cursor` query parameters every paginated list takes (DESIGN §3)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Query

from intake.config_api.cursors import InvalidCursor, Position, decode_cursor
from intake.config_api.errors import FieldError, InvalidFields

DEFAULT_LIMIT = 50
MAX_LIMIT = 200

Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT, description="rows per page")]
Cursor = Annotated[str | None, Query(max_length=200, description="`next_cursor` of the previous page")]


def position_from(cursor: str | None) -> Position | None:
    """The position a `cursor` query parameter names, or a 422 naming the parameter."""
    if cursor is None:
        return None
    try:
        return decode_cursor(cursor)
    except InvalidCursor as error:
        raise InvalidFields([FieldError(("query", "cursor"), str(error))]) from None
