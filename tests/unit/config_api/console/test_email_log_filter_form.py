"""The email log's GET filter form: every field read, each bad one named, and filters written back into links."""

from __future__ import annotations

import doctest
from datetime import UTC, datetime
from urllib.parse import parse_qsl

import pytest

from intake.config_api.console import email_log_filter_form
from intake.config_api.console.email_log_filter_form import filter_query, read_filter_form
from intake.config_api.cursors import Position, encode_cursor
from intake.config_api.email_log_schemas import LogOutcome


def test_docstring_examples() -> None:
    result = doctest.testmod(email_log_filter_form)
    assert result.attempted > 0
    assert result.failed == 0


def test_a_link_from_the_inbox_list_is_read_and_shown_in_the_form() -> None:
    form = read_filter_form({"inbox_id": "4", "outcome": "failed", "since": "2026-12-06T00:00:00Z"})
    assert form.errors == {}
    assert form.filters.since == datetime(2026, 12, 6, tzinfo=UTC)
    assert form.values["since"] == "2026-12-06T00:00"  # what a datetime-local field takes
    assert form.active


def test_the_form_round_trips_through_its_links() -> None:
    typed = {"sender": "@acme.example", "q": "50% off", "until": "2026-12-06T14:30", "outcome": "", "junk": "x"}
    form = read_filter_form(typed)
    again = read_filter_form(dict(parse_qsl(filter_query(form.values))))
    assert (again.filters.sender, again.filters.until) == ("@acme.example", form.filters.until)
    assert "junk" not in filter_query(form.values)


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"inbox_id": "abc"}, "inbox_id"),
        ({"inbox_id": "0"}, "inbox_id"),
        ({"inbox_id": str(2**63)}, "inbox_id"),
        ({"outcome": "exploded"}, "outcome"),
        ({"since": "yesterday"}, "since"),
        ({"since": "0001-01-01T00:00:00+14:00"}, "since"),
        ({"since": "2026-12-06T10:00", "until": "2026-12-06T09:00"}, "until"),
        ({"sender": "x" * 321}, "sender"),
        ({"q": "x" * 501}, "q"),
        ({"cursor": "not-a-cursor"}, "cursor"),
    ],
)
def test_each_bad_field_is_named(params: dict[str, str], field: str) -> None:
    form = read_filter_form(params)
    assert list(form.errors) == [field]
    assert not form.errors[field].startswith(" ")


def test_cursor_and_nul_characters() -> None:
    cursor = encode_cursor(Position(datetime(2026, 1, 1, tzinfo=UTC), 9))
    form = read_filter_form({"cursor": cursor, "q": "a\x00b", "outcome": "pending"})
    assert form.cursor == Position(datetime(2026, 1, 1, tzinfo=UTC), 9)
    assert (form.filters.q, form.filters.outcome) == ("ab", LogOutcome.PENDING)
    assert not read_filter_form({}).active
