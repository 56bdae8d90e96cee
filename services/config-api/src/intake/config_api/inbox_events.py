"""Telling the fetchers that an inbox changed: `inbox.changed` after every committed create, update or delete.

A hint, not a guarantee (see `InboxChanged`): fetchers also re-read the settings on their own, so a
publish that fails is logged and the request still succeeds; the change is committed already.
"""

from __future__ import annotations

from datetime import UTC, datetime

import structlog

from intake.shared import topology
from intake.shared.contracts import InboxChanged
from intake.shared.event_publisher import EventPublisher

log = structlog.get_logger(__name__)


async def publish_inbox_changed(publisher: EventPublisher, inbox_id: int) -> None:
    """Publish `inbox.changed` for `inbox_id` (no listener is fine); a failure is logged, not raised."""
    event = InboxChanged(inbox_id=inbox_id, changed_at=datetime.now(UTC))
    try:
        await publisher.publish(event, topology.INBOX_CHANGED, mandatory=False)
    except Exception as error:  # the broker may be down; the fetchers' own refresh picks the change up
        log.warning(
            "inbox.changed not published; fetchers pick the change up at their next refresh",
            inbox_id=inbox_id,
            error=f"{type(error).__name__}: {error}",
        )
