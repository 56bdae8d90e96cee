"""`inbox.changed` is published without `mandatory`, and a publish that fails never fails the request."""

from __future__ import annotations

import pytest

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


async def test_a_failed_publish_is_logged_not_raised(capsys: pytest.CaptureFixture[str]) -> None:
    publisher = FakePublisher(failing={topology.INBOX_CHANGED})
    await publish_inbox_changed(publisher, 7)
    assert publisher.published == []
    assert "inbox.changed not published" in capsys.readouterr().out
