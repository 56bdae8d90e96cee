"""Which email log changes a live view has not seen yet, and how they are framed as server-sent events.

Pure. Rows carry `updated_at`, the start time of the transaction that changed them, so a transaction
that commits late can show a time older than rows already seen. Each poll therefore looks back over
OVERLAP and a `ChangeWindow` drops the (row, time) pairs it has already passed on. The event id sent to
the browser is the window's mark, so a reconnecting EventSource (`Last-Event-ID`) resumes there.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

# Longer than any email log transaction (batches gather 50 ms; a reprocess waits for one publish confirm).
OVERLAP = timedelta(seconds=5)


@dataclass
class ChangeWindow:
    """The newest change time seen (`mark`) and the changes seen within OVERLAP of it."""

    mark: datetime
    # Never look back before this: set when a view starts over (after too many changes at once), so the
    # changes it was told to reload for are not read again.
    floor: datetime | None = None
    _seen: dict[tuple[int, datetime], None] = field(default_factory=dict)

    @property
    def poll_from(self) -> datetime:
        """Changes at or after this time are read by the next poll (exclusive bounds would miss late commits).

        >>> at = datetime(2025, 1, 1, tzinfo=UTC)
        >>> ChangeWindow(at).poll_from == at - OVERLAP, ChangeWindow(at, floor=at).poll_from == at
        (True, True)
        """
        back = self.mark - OVERLAP
        return back if self.floor is None else max(back, self.floor)

    def unseen(self, changes: Iterable[tuple[int, datetime]]) -> list[tuple[int, datetime]]:
        """The (row id, updated_at) pairs not passed on before, in the given order; they count as seen now.

        >>> start = datetime(2025, 1, 1, tzinfo=UTC)
        >>> window = ChangeWindow(start)
        >>> [row for row, _ in window.unseen([(1, start), (2, start + timedelta(seconds=1))])]
        [1, 2]
        >>> window.unseen([(2, start + timedelta(seconds=1))]), window.mark == start + timedelta(seconds=1)
        ([], True)
        """
        fresh = [change for change in changes if change not in self._seen]
        for change in fresh:
            self._seen[change] = None
            self.mark = max(self.mark, change[1])
        horizon = self.poll_from
        for old in [change for change in self._seen if change[1] < horizon]:
            del self._seen[old]
        return fresh


def encode_mark(mark: datetime) -> str:
    """The event id for a window mark (ISO 8601 in UTC).

    >>> encode_mark(datetime(2025, 1, 2, 3, 4, 5, 6, tzinfo=UTC))
    '2025-01-02T03:04:05.000006+00:00'
    """
    return mark.astimezone(UTC).isoformat()


def decode_mark(text: str | None, now: datetime) -> datetime:
    """The mark an event id (or a page's `since`) names; `now` when it is absent, malformed or in the future.

    A mark older than an hour is taken as an hour ago: a live view never replays more than that.

    >>> now = datetime(2025, 1, 1, 12, tzinfo=UTC)
    >>> decode_mark("2025-01-01T11:59:00+00:00", now), decode_mark("junk", now) == now
    (datetime.datetime(2025, 1, 1, 11, 59, tzinfo=datetime.timezone.utc), True)
    """
    if not text:
        return now
    try:
        mark = datetime.fromisoformat(text)
    except ValueError:
        return now
    if mark.tzinfo is None:
        return now
    try:
        mark = mark.astimezone(UTC)
    except (OverflowError, ValueError):
        return now
    return min(max(mark, now - timedelta(hours=1)), now)


def sse_event(event: str, data: str, event_id: str | None = None) -> str:
    """One server-sent event (HTML Living Standard §9.2): every line of `data` in its own `data:` field.

    >>> sse_event("row", "a\\nb", "7")
    'event: row\\nid: 7\\ndata: a\\ndata: b\\n\\n'
    """
    lines = [f"event: {event}"]
    if event_id is not None:
        lines.append(f"id: {event_id}")
    lines += [f"data: {line}" for line in data.splitlines() or [""]]
    return "\n".join(lines) + "\n\n"


def sse_comment(text: str) -> str:
    """A comment line, which keeps the connection alive and is ignored by EventSource.

    >>> sse_comment("keep-alive")
    ': keep-alive\\n\\n'
    """
    return f": {text}\n\n"
