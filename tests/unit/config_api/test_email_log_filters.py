"""The email log's pure pieces: LIKE escaping, naive times, and the SQL built for filters and cursors."""

from __future__ import annotations

import doctest
from datetime import UTC, datetime

import pytest

from intake.config_api import email_log_filters
from intake.config_api.cursors import Position
from intake.config_api.email_log_filters import EmailLogFilter, as_utc, email_log_query, like_pattern
from intake.config_api.email_log_schemas import LogOutcome

AT = datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)


def test_like_pattern_takes_wildcards_literally() -> None:
    assert like_pattern("acme") == "%acme%"
    assert like_pattern("50%_off") == "%50\\%\\_off%"
    assert like_pattern("a\\b") == "%a\\\\b%"


def test_naive_times_are_utc() -> None:
    assert as_utc(datetime(2025, 1, 2, 3, 4, 5)) == AT
    assert as_utc(AT) is AT


@pytest.mark.parametrize("moment", ["0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00"])
def test_a_time_with_no_utc_equivalent_is_a_value_error(moment: str) -> None:
    with pytest.raises(ValueError, match="outside the years 1 to 9999 once converted to UTC"):
        as_utc(datetime.fromisoformat(moment))


def test_no_filters() -> None:
    sql, args = email_log_query(EmailLogFilter(), None, 50)
    assert "WHERE" not in sql
    assert sql.endswith("ORDER BY logged_at DESC, id DESC LIMIT $1")
    assert args == [51]


def test_every_filter_and_the_cursor_are_parameters() -> None:
    filters = EmailLogFilter(
        inbox_id=3,
        outcome=LogOutcome.PENDING,
        since=AT,
        until=datetime(2025, 2, 1),
        sender="'; DROP TABLE x; --",
        q="printer",
    )
    sql, args = email_log_query(filters, Position(AT, 99), 10)
    assert "DROP" not in sql
    assert (
        "WHERE inbox_id = $1 AND outcome = $2 AND logged_at >= $3 AND logged_at < $4"
        " AND sender ILIKE $5 ESCAPE '\\' AND subject ILIKE $6 ESCAPE '\\' AND (logged_at, id) < ($7, $8)"
    ) in sql
    assert args == [
        3,
        "pending",
        AT,
        datetime(2025, 2, 1, tzinfo=UTC),
        "%'; DROP TABLE x; --%",
        "%printer%",
        AT,
        99,
        11,
    ]


def test_empty_text_filters_are_ignored() -> None:
    sql, _ = email_log_query(EmailLogFilter(sender="", q=""), None, 5)
    assert "WHERE" not in sql


def test_docstring_examples() -> None:
    result = doctest.testmod(email_log_filters)
    assert result.attempted > 0
    assert result.failed == 0


@pytest.mark.parametrize(
    ("sender", "clause", "value"),
    [
        ("Bob@Acme.example", "lower(sender) = lower($1)", "Bob@Acme.example"),
        (" @acme.example ", "split_part(lower(sender), '@', -1) = lower($1)", "acme.example"),
        ("acme", "sender ILIKE $1 ESCAPE '\\'", "%acme%"),
        ("a@b@c", "sender ILIKE $1 ESCAPE '\\'", "%a@b@c%"),
        ("@", "sender ILIKE $1 ESCAPE '\\'", "%@%"),
    ],
)
def test_sender_matches_an_address_a_domain_or_a_fragment(sender: str, clause: str, value: str) -> None:
    sql, args = email_log_query(EmailLogFilter(sender=sender), None, 5)
    assert f"WHERE {clause} ORDER BY" in sql
    assert args[0] == value
