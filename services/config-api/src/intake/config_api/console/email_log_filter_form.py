"""The email log's filter form (a GET form, so a filtered view is a bookmarkable URL): reading its fields into
an `EmailLogFilter` with an error per bad field, and writing a filter back into links.

Pure. Times are UTC: a value from the browser's date-time field has no offset and is taken as UTC; an ISO
8601 time with an offset (links from the inbox list) is converted. Nothing here raises for bad input.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from urllib.parse import urlencode

from intake.config_api.cursors import MAX_ROW_ID, InvalidCursor, Position, decode_cursor
from intake.config_api.email_log_filters import EmailLogFilter, as_utc
from intake.config_api.email_log_schemas import LogOutcome

FIELDS = ("inbox_id", "outcome", "since", "until", "sender", "q")
MAX_LENGTHS = {"sender": 320, "q": 500}


@dataclass(frozen=True)
class FilterForm:
    """What was typed (`values`, shown again in the form), the filter it means, and an error per bad field."""

    values: dict[str, str]
    filters: EmailLogFilter
    errors: dict[str, str] = field(default_factory=dict)
    cursor: Position | None = None

    @property
    def active(self) -> bool:
        """Whether any filter narrows the list."""
        return any(self.values.get(name) for name in FIELDS)


def parse_time(text: str) -> datetime:
    """A time from the form (`2026-12-06T14:30`, UTC) or a link (`2026-12-06T00:00:00Z`), in UTC; ValueError.

    >>> parse_time("2026-12-06T14:30").isoformat(), parse_time("2026-12-06T01:00:00+01:00").isoformat()
    ('2026-12-06T14:30:00+00:00', '2026-12-06T00:00:00+00:00')
    """
    text = text.strip().replace(" ", "T", 1)
    return as_utc(datetime.fromisoformat(text))


def time_field_value(moment: datetime) -> str:
    """A UTC time as the value of a `datetime-local` field.

    >>> on_the_minute = datetime(2026, 12, 6, 14, 30, tzinfo=UTC)
    >>> with_seconds = datetime(2026, 1, 1, 0, 0, 5, tzinfo=UTC)
    >>> time_field_value(on_the_minute), time_field_value(with_seconds)
    ('2026-12-06T14:30', '2026-01-01T00:00:05')
    """
    utc = moment.astimezone(UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S" if utc.second else "%Y-%m-%dT%H:%M")


def _text(params: Mapping[str, str], name: str) -> str:
    return params.get(name, "").replace("\x00", "").strip()


def read_filter_form(params: Mapping[str, str]) -> FilterForm:
    """The filter the query parameters ask for; a bad field is named in `errors` and left out of the filter.

    >>> form = read_filter_form({"inbox_id": "3", "outcome": "failed", "q": " printer ", "since": "yesterday"})
    >>> form.filters.inbox_id, form.filters.outcome, form.filters.q, form.filters.since, sorted(form.errors)
    (3, <LogOutcome.FAILED: 'failed'>, 'printer', None, ['since'])
    """
    values = {name: _text(params, name) for name in FIELDS}
    errors: dict[str, str] = {}
    inbox_id: int | None = None
    if values["inbox_id"]:
        if values["inbox_id"].isdigit() and 1 <= int(values["inbox_id"]) <= MAX_ROW_ID:
            inbox_id = int(values["inbox_id"])
        else:
            errors["inbox_id"] = "Choose an inbox from the list."
    outcome: LogOutcome | None = None
    if values["outcome"]:
        try:
            outcome = LogOutcome(values["outcome"])
        except ValueError:
            errors["outcome"] = "Choose an outcome from the list."
    times: dict[str, datetime | None] = {"since": None, "until": None}
    for name in times:
        if values[name]:
            try:
                times[name] = parse_time(values[name])
            except ValueError:
                errors[name] = "Enter a date and time (UTC), for example 2026-12-06 14:30."
            else:
                values[name] = time_field_value(times[name])  # type: ignore[arg-type]
    since, until = times["since"], times["until"]
    if since is not None and until is not None and until <= since:
        errors["until"] = "Until must be later than From."
        until = None
    for name, limit in MAX_LENGTHS.items():
        if len(values[name]) > limit:
            errors[name] = f"Use at most {limit} characters."
    cursor: Position | None = None
    if params.get("cursor"):
        try:
            cursor = decode_cursor(params["cursor"][:200])
        except InvalidCursor:
            errors["cursor"] = "This page link is out of date; the list starts again from the newest message."
    filters = EmailLogFilter(
        inbox_id=inbox_id,
        outcome=outcome,
        since=since,
        until=until,
        sender=values["sender"] if values["sender"] and "sender" not in errors else None,
        q=values["q"] if values["q"] and "q" not in errors else None,
    )
    return FilterForm(values=values, filters=filters, errors=errors, cursor=cursor)


def filter_query(values: Mapping[str, str], **extra: str | None) -> str:
    """The query string of a filtered view (empty fields left out), with `extra` parameters.

    >>> filter_query({"inbox_id": "3", "q": "", "outcome": "failed"}, cursor="abc")
    'inbox_id=3&outcome=failed&cursor=abc'
    >>> filter_query({})
    ''
    """
    pairs = [(name, values[name]) for name in FIELDS if values.get(name)]
    pairs += [(name, value) for name, value in extra.items() if value]
    return urlencode(pairs)
