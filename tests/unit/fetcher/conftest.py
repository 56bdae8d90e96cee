"""The poller's steps on fakes: an in-memory folder, one inbox's rows in memory, a recording publisher."""

from __future__ import annotations

import pytest
import structlog

from intake.fetcher.metrics import FetcherMetrics
from intake.fetcher.publishing import Publisher
from tests.fakes.inbox_records import FakeInboxRecords
from tests.fakes.mailbox import FakeMailbox
from tests.fakes.publisher import FakePublisher


def mail(n: int, body: bytes = b"Hello.\r\n") -> bytes:
    """A small plain message numbered `n` (its Message-ID is <n@example.com>)."""
    return (
        f"Message-ID: <{n}@example.com>\r\nFrom: customer{n}@example.com\r\nSubject: request {n}\r\n\r\n".encode()
        + body
    )


@pytest.fixture
def mailbox() -> FakeMailbox:
    return FakeMailbox(uidvalidity=7)


@pytest.fixture
def records() -> FakeInboxRecords:
    return FakeInboxRecords(inbox_id=1)


@pytest.fixture
def events() -> FakePublisher:
    return FakePublisher()


@pytest.fixture
def publisher(records: FakeInboxRecords, events: FakePublisher) -> Publisher:
    return Publisher(records, events, FetcherMetrics().for_inbox(1), structlog.get_logger().bind(inbox_id=1))
