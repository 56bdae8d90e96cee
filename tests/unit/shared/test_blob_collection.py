"""The blob garbage-collection rule as a table: which blobs go, which stay, and why.

The same table is run through the SQL on real PostgreSQL in tests/integration/shared/test_blob_collection.py,
so the pure rule and the statement that applies it cannot drift apart.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from intake.shared.blob_collection import REFERENCE_VIEWS, BlobFacts, verdict

GRACE = timedelta(minutes=10)
NOW = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)


@dataclass(frozen=True)
class Case:
    name: str
    age: timedelta  # since the blob was last put
    references: frozenset[str]  # email_log, fetcher_message, issue_message, attachment, outcome_only
    locked: bool
    deleted: bool


# Where each kind of reference lives (the view the collector reads it through); `outcome_only` is a
# tracker.outcomes row, a dedupe key, which keeps no bytes alive.
VIEW_OF = {
    "email_log": "config.blob_references",
    "fetcher_message": "fetcher.blob_references",
    "issue_message": "tracker.blob_references",
    "attachment": "tracker.blob_references",
}

OLD = timedelta(hours=2)
NONE: frozenset[str] = frozenset()
CASES = [
    Case("nothing refers to it, put long ago", OLD, frozenset(), False, True),
    Case("nothing refers to it, put just now (a writer may be about to)", timedelta(seconds=5), NONE, False, False),
    Case("nothing refers to it, put just inside the grace period", GRACE - timedelta(seconds=30), NONE, False, False),
    Case("an email log row names it", OLD, frozenset({"email_log"}), False, False),
    Case("the fetcher's row of the message names it", OLD, frozenset({"fetcher_message"}), False, False),
    Case("the raw message of an issue message", OLD, frozenset({"issue_message"}), False, False),
    Case("an attachment on an issue", OLD, frozenset({"attachment"}), False, False),
    Case("every kind of reference at once", OLD, frozenset(VIEW_OF), False, False),
    Case("only a dedupe key (tracker.outcomes) names it", OLD, frozenset({"outcome_only"}), False, True),
    Case("nothing refers to it, but a put of it is in progress", OLD, frozenset(), True, False),
]


def facts(case: Case, now: datetime) -> BlobFacts:
    views = frozenset(VIEW_OF[kind] for kind in case.references if kind in VIEW_OF)
    return BlobFacts(touched_at=now - case.age, referenced_by=views, locked=case.locked)


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_verdict(case: Case) -> None:
    result = verdict(facts(case, NOW), NOW, GRACE)
    assert result.delete is case.deleted, result.reason


def test_reasons_name_what_kept_it() -> None:
    kept = verdict(BlobFacts(NOW - OLD, frozenset({"tracker.blob_references"}), False), NOW, GRACE)
    assert kept.reason == "referred to by tracker.blob_references"
    assert "grace" not in verdict(BlobFacts(NOW, frozenset(), False), NOW, GRACE).reason
    assert verdict(BlobFacts(NOW, frozenset(), False), NOW, GRACE).reason == "put less than 0:10:00 ago"


def test_every_reference_view_is_in_the_table() -> None:
    assert set(VIEW_OF.values()) == set(REFERENCE_VIEWS)


def test_every_put_in_the_services_touches_the_blob() -> None:
    # The collector's safety rests on every writer's INSERT INTO blobs.blobs ending in ON_CONFLICT_TOUCH
    # (a DO NOTHING takes no lock): a new put that forgets it fails here.
    root = Path(__file__).resolve().parents[3]
    sources = [*root.glob("shared/src/**/*.py"), *root.glob("services/*/src/**/*.py")]
    puts = 0
    for path in sources:
        text = path.read_text()
        inserts = text.count("INSERT INTO blobs.blobs")
        assert inserts == text.count("{ON_CONFLICT_TOUCH}"), path
        puts += inserts
    assert puts >= 3  # put_blob, put_blobs, put_blob_streamed: every writer puts through shared/blobs.py
