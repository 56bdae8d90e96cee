"""Consumes `message.processed` in batches: records each outcome on our row and, when the message is safe,
the mailbox action owed.

Thin: decode (the `BatchConsumer`) → the inboxes' processed actions (one query) → decide each action
(actions.decide_action) → one UPDATE for the batch → wake each inbox loop that owes an action. The
deliveries are acked only after that (shared/batch_consumer.py, also for failures and redeliveries);
an outcome for a row we don't have is logged and acked.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence

import asyncpg
import structlog

from intake.fetcher import inboxes, outcome_records
from intake.fetcher.actions import decide_action
from intake.shared.contracts import MessageProcessed
from intake.shared.key_rounds import in_rounds

log = structlog.get_logger(__name__)


def _key(event: MessageProcessed) -> outcome_records.MessageKey:
    return (event.inbox_id, event.uidvalidity, event.uid)


class ProcessedHandler:
    def __init__(self, pool: asyncpg.Pool, wake: Callable[[int], None]) -> None:
        self._pool = pool
        self._wake = wake

    async def handle_batch(self, events: Sequence[MessageProcessed]) -> None:
        # One transaction, so a redelivered batch finds either all of it recorded or none.
        async with self._pool.acquire() as conn, conn.transaction():
            actions = await inboxes.processed_actions_of(conn, {event.inbox_id for event in events})
            decisions = [decide_action(event.outcome, actions.get(event.inbox_id)) for event in events]
            found: set[outcome_records.MessageKey] = set()
            # In key order (stable), so concurrent writers lock rows in one order and never deadlock.
            pairs = sorted(zip(events, decisions, strict=True), key=lambda pair: _key(pair[0]))
            for round_ in in_rounds(pairs, key=lambda pair: _key(pair[0])):
                found |= await outcome_records.record_outcomes(conn, [(event, d.action) for event, d in round_])
        owed: set[int] = set()
        for event, decision in zip(events, decisions, strict=True):
            fields = {
                "inbox_id": event.inbox_id,
                "uidvalidity": event.uidvalidity,
                "uid": event.uid,
                "message_id": event.message_id,
            }
            if _key(event) not in found:
                log.warning("outcome for a message this fetcher did not fetch; ignored", **fields)
                continue
            log.debug(
                "outcome recorded",
                outcome=event.outcome.value,
                action=decision.action,
                reason=decision.reason,
                **fields,
            )
            if decision.action is not None:
                owed.add(event.inbox_id)
        by_outcome = Counter(event.outcome.value for event in events)
        log.info("outcomes recorded", outcomes=dict(by_outcome), inboxes_owing_actions=sorted(owed))
        for inbox_id in sorted(owed):
            self._wake(inbox_id)
