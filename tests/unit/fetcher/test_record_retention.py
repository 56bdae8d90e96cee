"""When the fetcher's own records may be pruned, as a table (the same table runs through the SQL in
tests/integration/fetcher/test_record_retention.py)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest

from intake.fetcher.record_retention import CheckpointPosition, MessageRecord, may_prune, may_prune_attempts

NOW = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)
RETENTION = timedelta(days=30)
OLD = timedelta(days=31)
RECENT = timedelta(days=29)
CHECKPOINT = CheckpointPosition(uidvalidity=7, last_uid=100)


@dataclass(frozen=True)
class Row:
    name: str
    state: str
    processed_ago: timedelta | None
    action_state: str | None
    action_done_ago: timedelta | None
    uidvalidity: int
    uid: int
    checkpoint: CheckpointPosition | None
    pruned: bool


ROWS = [
    Row("skipped mail, outcome long ago", "processed", OLD, None, None, 7, 10, CHECKPOINT, True),
    Row("skipped mail, outcome within the retention", "processed", RECENT, None, None, 7, 10, CHECKPOINT, False),
    Row("on an issue, marked read long ago", "processed", OLD, "done", OLD, 7, 11, CHECKPOINT, True),
    Row("on an issue, action done only recently", "processed", OLD, "done", RECENT, 7, 12, CHECKPOINT, False),
    Row("on an issue, action abandoned", "processed", OLD, "abandoned", None, 7, 13, CHECKPOINT, True),
    Row("on an issue, action still pending", "processed", OLD, "pending", None, 7, 14, CHECKPOINT, False),
    Row("published, no outcome yet", "published", None, None, None, 7, 15, CHECKPOINT, False),
    Row("stored, not yet published", "stored", None, None, None, 7, 16, CHECKPOINT, False),
    Row("above the checkpoint: the row marks the UID fetched", "processed", OLD, None, None, 7, 101, CHECKPOINT, False),
    Row("at the checkpoint", "processed", OLD, None, None, 7, 100, CHECKPOINT, True),
    Row("above the checkpoint of an older UIDVALIDITY", "processed", OLD, None, None, 6, 500, CHECKPOINT, True),
    Row("inbox without a checkpoint (deleted)", "processed", OLD, None, None, 7, 17, None, True),
]


def record(row: Row, now: datetime) -> MessageRecord:
    return MessageRecord(
        uidvalidity=row.uidvalidity,
        uid=row.uid,
        state=row.state,
        processed_at=None if row.processed_ago is None else now - row.processed_ago,
        action_state=row.action_state,
        action_done_at=None if row.action_done_ago is None else now - row.action_done_ago,
    )


@pytest.mark.parametrize("row", ROWS, ids=[row.name for row in ROWS])
def test_may_prune(row: Row) -> None:
    assert may_prune(record(row, NOW), row.checkpoint, NOW - RETENTION) is row.pruned


@pytest.mark.parametrize(
    ("updated_ago", "uidvalidity", "uid", "pruned"),
    [(OLD, 7, 50, True), (RECENT, 7, 50, False), (OLD, 7, 101, False), (OLD, 6, 101, True)],
)
def test_fetch_attempts_follow_the_checkpoint(updated_ago: timedelta, uidvalidity: int, uid: int, pruned: bool) -> None:
    assert may_prune_attempts(uidvalidity, uid, NOW - updated_ago, CHECKPOINT, NOW - RETENTION) is pruned
