"""The `message.processed` consumer against a real RabbitMQ, PostgreSQL and Dovecot."""

from __future__ import annotations

import asyncio

import aio_pika
import asyncpg

from intake.fetcher.settings import FetcherSettings
from intake.shared import topology
from intake.shared.contracts import Outcome
from tests.integration.fetcher.conftest import Bus, InboxFactory, eventually, message, running
from tests.support.dovecot import Dovecot, Mailbox


async def _seen(mailbox: Mailbox, uid: int) -> bool:
    return "\\Seen" in (mailbox.flags(uid) or set())


async def test_an_outcome_that_arrives_during_a_short_database_outage_is_applied_afterwards(
    dovecot: Dovecot, make_inbox: InboxFactory, fetcher_settings: FetcherSettings, bus: Bus, db: asyncpg.Connection
) -> None:
    mailbox = dovecot.new_user()
    uid = mailbox.append(message("outage"))
    await make_inbox(mailbox)

    async with running(fetcher_settings):
        event = await bus.next_fetched()
        # The consumer reads the inbox's processed_action through this view: without it, every
        # delivery fails. Immediate requeues would use up the delivery limit within milliseconds.
        await db.execute("ALTER VIEW config.inbox_settings RENAME TO inbox_settings_away")
        await bus.send_processed(event, Outcome.ISSUE_CREATED)
        await asyncio.sleep(2.5)  # the outage: longer than immediate retries take, shorter than 1 + 2 + 4 s
        await db.execute("ALTER VIEW config.inbox_settings_away RENAME TO inbox_settings")
        await eventually(lambda: _seen(mailbox, uid), "\\Seen once the database is back", seconds=30)


async def test_an_unreadable_outcome_does_not_hold_up_the_valid_ones(
    dovecot: Dovecot, make_inbox: InboxFactory, fetcher_settings: FetcherSettings, bus: Bus
) -> None:
    mailbox = dovecot.new_user()
    uid = mailbox.append(message("behind garbage"))
    await make_inbox(mailbox)

    async with running(fetcher_settings):
        event = await bus.next_fetched()
        exchange = await bus.channel.get_exchange(topology.EXCHANGE_NAME)
        await exchange.publish(
            aio_pika.Message(b"not an outcome", delivery_mode=aio_pika.DeliveryMode.PERSISTENT),
            routing_key=topology.MESSAGE_PROCESSED,
            mandatory=True,
        )
        await bus.send_processed(event, Outcome.ISSUE_CREATED)
        await eventually(lambda: _seen(mailbox, uid), "\\Seen for the valid outcome")
