"""`inbox.changed` is published without `mandatory`, and a broker that fails never fails the request."""

from __future__ import annotations

from typing import Any

import pytest
from faststream.rabbit import RabbitBroker

from intake.config_api.inbox_events import publish_inbox_changed
from intake.shared import topology
from intake.shared.contracts import InboxChanged


class FakeBroker:
    """The one method `bus.publish` calls on a RabbitBroker."""

    def __init__(self, error: Exception | None = None) -> None:
        self.error = error
        self.published: list[tuple[bytes, dict[str, Any]]] = []

    async def publish(self, body: bytes, **options: Any) -> None:
        if self.error is not None:
            raise self.error
        self.published.append((body, options))


def as_broker(fake: FakeBroker) -> RabbitBroker:
    broker: RabbitBroker = fake  # type: ignore[assignment]
    return broker


async def test_publishes_inbox_changed_not_mandatory() -> None:
    fake = FakeBroker()
    await publish_inbox_changed(as_broker(fake), 7)
    [(body, options)] = fake.published
    assert InboxChanged.model_validate_json(body).inbox_id == 7
    assert options["routing_key"] == topology.INBOX_CHANGED
    assert options["mandatory"] is False
    assert options["persist"] is True


@pytest.mark.parametrize("error", [ConnectionError("broker gone"), TimeoutError()])
async def test_a_failed_publish_is_logged_not_raised(error: Exception, capsys: pytest.CaptureFixture[str]) -> None:
    await publish_inbox_changed(as_broker(FakeBroker(error)), 7)
    assert "inbox.changed not published" in capsys.readouterr().out
