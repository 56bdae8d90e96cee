"""`inbox.changed` is published without `mandatory`, and a publish that fails never fails the request."""

from __future__ import annotations

from structlog.testing import capture_logs

from intake.config_api.inbox_events import publish_inbox_changed
from intake.shared import topology
from intake.shared.contracts import InboxChanged
from tests.fakes.publisher import FakePublisher


async def test_publishes_inbox_changed_not_mandatory() -> None:
    publisher = FakePublisher()
    await publish_inbox_changed(publisher, 7)
    [(event, routing_key, mandatory, _)] = publisher.published
    assert isinstance(event, InboxChanged)
    assert event.inbox_id == 7
    assert routing_key == topology.INBOX_CHANGED
    assert mandatory is False


async def test_a_failed_publish_is_logged_not_raised() -> None:
    publisher = FakePublisher(failing={topology.INBOX_CHANGED})
    # capture_logs, not stdout: it holds whatever logging set-up an earlier test left behind.
    with capture_logs() as logs:
        await publish_inbox_changed(publisher, 7)
    assert publisher.published == []
    assert [entry["event"] for entry in logs if entry["log_level"] == "warning"] == [
        "inbox.changed not published; fetchers pick the change up at their next refresh"
    ]
