"""The email log's query builder (pure): the filters of GET /api/v1/email-log (`EmailLogFilter`) as WHERE
clauses, and the filtered keyset query for one page (`email_log_query`), newest first.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from intake.config_api.cursors import Position
from intake.config_api.email_log_schemas import LogOutcome

# While a reprocessed row is pending, its processed_at is the replaced outcome's: not shown.
ROW_COLUMNS = """id, inbox_id, uidvalidity, uid, message_id, sender, subject, size, fetched_at, logged_at,
    CASE WHEN outcome = 'pending' THEN NULL ELSE processed_at END AS processed_at, outcome, reason, issue_number,
    attempts"""


@dataclass(frozen=True)
class EmailLogFilter:
    """What GET /api/v1/email-log narrows the list to; None means no filter."""

    inbox_id: int | None = None
    outcome: LogOutcome | None = None
    since: datetime | None = None  # inclusive
    until: datetime | None = None  # exclusive
    sender: str | None = None  # a whole address, `@domain`, or a case-insensitive substring (`sender_match`)
    q: str | None = None  # case-insensitive substring of the subject


def like_pattern(text: str) -> str:
    """An ILIKE pattern (with ESCAPE '\\') matching `text` anywhere, wildcards in `text` taken literally.

    >>> like_pattern("50%_off\\\\")
    '%50\\\\%\\\\_off\\\\\\\\%'
    """
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


class SenderMatch(StrEnum):
    ADDRESS = "address"  # the whole address, case-insensitive
    DOMAIN = "domain"  # everything after the last "@", case-insensitive
    FRAGMENT = "fragment"  # a case-insensitive substring


_ADDRESS = re.compile(r"^[^@\s]+@[^@\s]+$")
_DOMAIN = re.compile(r"^@[^@\s]+$")


def sender_match(text: str) -> tuple[SenderMatch, str]:
    """How the `sender` filter matches: a whole address that address, `@domain` that domain, else a substring.

    Whole addresses and domains are looked up by their own indexes: a substring search through trigrams
    is slow exactly for the common parts of addresses (`gmail.com`).

    >>> sender_match(" Ann@Example.com ")
    (<SenderMatch.ADDRESS: 'address'>, 'Ann@Example.com')
    >>> sender_match("@example.com"), sender_match("ann")
    ((<SenderMatch.DOMAIN: 'domain'>, 'example.com'), (<SenderMatch.FRAGMENT: 'fragment'>, 'ann'))
    """
    stripped = text.strip()
    if _ADDRESS.match(stripped):
        return SenderMatch.ADDRESS, stripped
    if _DOMAIN.match(stripped):
        return SenderMatch.DOMAIN, stripped[1:]
    return SenderMatch.FRAGMENT, text


def as_utc(moment: datetime) -> datetime:
    """The time in UTC; a naive time from a query string is taken as UTC.

    ValueError (with a message for the client) if the time has no UTC equivalent within years 1..9999,
    such as 0001-01-01T00:00:00+14:00.
    """
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    try:
        return moment.astimezone(UTC)
    except (OverflowError, ValueError):
        raise ValueError("is outside the years 1 to 9999 once converted to UTC") from None


def filter_clauses(filters: EmailLogFilter, arg: Callable[[Any], str]) -> list[str]:
    """The WHERE conditions of `filters`, each value passed through `arg` (which returns its placeholder)."""
    clauses: list[str] = []
    if filters.inbox_id is not None:
        clauses.append(f"inbox_id = {arg(filters.inbox_id)}")
    if filters.outcome is not None:
        clauses.append(f"outcome = {arg(filters.outcome.value)}")
    if filters.since is not None:
        clauses.append(f"logged_at >= {arg(as_utc(filters.since))}")
    if filters.until is not None:
        clauses.append(f"logged_at < {arg(as_utc(filters.until))}")
    if filters.sender:
        kind, value = sender_match(filters.sender)
        if kind is SenderMatch.ADDRESS:
            clauses.append(f"lower(sender) = lower({arg(value)})")
        elif kind is SenderMatch.DOMAIN:
            clauses.append(f"split_part(lower(sender), '@', -1) = lower({arg(value)})")
        else:
            clauses.append(f"sender ILIKE {arg(like_pattern(value))} ESCAPE '\\'")
    if filters.q:
        clauses.append(f"subject ILIKE {arg(like_pattern(filters.q))} ESCAPE '\\'")
    return clauses


def email_log_query(filters: EmailLogFilter, after: Position | None, limit: int) -> tuple[str, list[Any]]:
    """The SQL and arguments for one page: newest first by (logged_at, id), `limit + 1` rows to detect more."""
    args: list[Any] = []

    def arg(value: Any) -> str:
        args.append(value)
        return f"${len(args)}"

    clauses = filter_clauses(filters, arg)
    if after is not None:
        clauses.append(f"(logged_at, id) < ({arg(after.at)}, {arg(after.id)})")
    where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
    sql = f"SELECT {ROW_COLUMNS} FROM config.email_log {where} ORDER BY logged_at DESC, id DESC LIMIT {arg(limit + 1)}"
    return sql, args
