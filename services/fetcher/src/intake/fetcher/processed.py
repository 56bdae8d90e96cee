"""Consumes `message.processed`: records the outcome on our row and, when the message is safe, the mailbox action.

Thin: decode → decide (actions.decide_action) → one UPDATE → wake the inbox loop.
The delivery is acked only after the update (the subscriber's ack policy); an unknown row is logged
and acked, an exception requeues it up to the queue's delivery limit.
"""

from __future__ import annotations

from collections.abc import Callable

import asyncpg
import structlog

from intake.fetcher import inboxes, repository
from intake.fetcher.actions import decide_action
from intake.shared.contracts import MessageProcessed

log = structlog.get_logger(__name__)


class ProcessedHandler:
    def __init__(self, pool: asyncpg.Pool, wake: Callable[[int], None]) -> None:
        self._pool = pool
        self._wake = wake

    async def handle(self, event: MessageProcessed) -> None:
        # Two statements, no transaction: under READ COMMITTED each sees its own snapshot anyway, and
        # the update is the only write (BEGIN and COMMIT would be two more round trips per outcome).
        async with self._pool.acquire() as conn:
            processed_action = await inboxes.processed_action_of(conn, event.inbox_id)
            decision = decide_action(event.outcome, processed_action)
            found = await repository.record_outcome(conn, event, decision.action)
        fields = {"inbox_id": event.inbox_id, "uidvalidity": event.uidvalidity, "uid": event.uid}
        if not found:
            log.warning("outcome for a message this fetcher did not fetch; ignored", **fields)
            return
        log.info(
            "outcome recorded", outcome=event.outcome.value, action=decision.action, reason=decision.reason, **fields
        )
        if decision.action is not None:
            self._wake(event.inbox_id)
