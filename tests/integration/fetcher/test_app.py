"""The fetcher application as a whole: it starts before config-api has migrated, and stops cleanly; an
`inbox.changed` hint reaches it at once; two replicas hand inboxes over on a clean stop."""

from __future__ import annotations

from datetime import UTC, datetime

import aio_pika
import asyncpg

from intake.fetcher.settings import FetcherSettings
from intake.shared import topology
from intake.shared.contracts import InboxChanged
from intake.shared.migrations import migrate
from intake.shared.secrets import SecretBox
from tests.integration.fetcher.conftest import Bus, InboxFactory, eventually, message, running
from tests.support.dovecot import Dovecot


async def test_waits_for_the_inbox_view_then_picks_up_inboxes(
    dovecot: Dovecot, db: asyncpg.Connection, fetcher_settings: FetcherSettings, bus: Bus, secret_key: str
) -> None:
    mailbox = dovecot.new_user()
    uid = mailbox.append(message("early"))

    async with running(fetcher_settings) as app:
        assert app.supervisor.running == frozenset()  # no config schema yet: nothing runs, nothing crashes
        await migrate(db, "intake.config_api", "config")
        inbox_id = await db.fetchval(
            """INSERT INTO config.inboxes (provider, email, username, password_encrypted, hostname, port, encryption,
                                           poll_interval_seconds, first_fetch)
               VALUES ('custom', 'support@example.com', $1, $2, $3, $4, 'none', 1, 'all') RETURNING id""",
            mailbox.username,
            SecretBox(secret_key).encrypt(mailbox.password),
            dovecot.host,
            dovecot.imap_port,
        )
        event = await bus.next_fetched()
        assert (event.inbox_id, event.uid) == (inbox_id, uid)

        await db.execute("UPDATE config.inboxes SET active = false WHERE id = $1", inbox_id)

        async def stopped() -> bool:
            return app.supervisor.running == frozenset()

        await eventually(stopped, "the inactive inbox's loop to stop")


def without_periodic_refresh(settings: FetcherSettings) -> FetcherSettings:
    """Leases and refreshes so slow that only an `inbox.changed` hint can explain a prompt reaction."""
    return settings.model_copy(update={"fetcher_inbox_refresh_seconds": 3600.0, "fetcher_lease_seconds": 600.0})


async def publish_inbox_changed(bus: Bus, inbox_id: int) -> None:
    exchange = await bus.channel.get_exchange(topology.EXCHANGE_NAME)
    event = InboxChanged(inbox_id=inbox_id, changed_at=datetime.now(UTC))
    await exchange.publish(aio_pika.Message(event.model_dump_json().encode()), routing_key=topology.INBOX_CHANGED)


async def test_inbox_changed_reaches_the_fetcher_without_waiting(
    dovecot: Dovecot,
    config_db: asyncpg.Connection,
    make_inbox: InboxFactory,
    fetcher_settings: FetcherSettings,
    bus: Bus,
) -> None:
    mailbox = dovecot.new_user()
    mailbox.create_folder("Other")
    in_inbox = mailbox.append(message("in INBOX"))
    in_other = mailbox.append(message("in Other"), folder="Other")

    async with running(without_periodic_refresh(fetcher_settings)) as app:
        # Created after the fetcher's first refresh: only the hint makes a replica claim it.
        inbox_id = await make_inbox(mailbox)
        await publish_inbox_changed(bus, inbox_id)
        event = await bus.next_fetched()
        assert (event.inbox_id, event.uid) == (inbox_id, in_inbox)
        assert app.supervisor.held == {inbox_id}

        # Changed: the owner restarts the loop with the new folder.
        await config_db.execute(
            "UPDATE config.inboxes SET directory = 'Other', updated_at = now() WHERE id = $1", inbox_id
        )
        await publish_inbox_changed(bus, inbox_id)
        event = await bus.next_fetched()
        assert (event.inbox_id, event.uid, event.subject) == (inbox_id, in_other, "in Other")

        # Made inactive: the loop stops and the lease is released.
        await config_db.execute("UPDATE config.inboxes SET active = false, updated_at = now() WHERE id = $1", inbox_id)
        await publish_inbox_changed(bus, inbox_id)

        async def released() -> bool:
            leases = await config_db.fetchval("SELECT count(*) FROM fetcher.leases")
            return app.supervisor.running == frozenset() and leases == 0

        await eventually(released, "the inactive inbox's loop to stop and its lease to be released")


async def test_a_stopping_replica_hands_its_inboxes_over_at_once(
    dovecot: Dovecot,
    config_db: asyncpg.Connection,
    make_inbox: InboxFactory,
    fetcher_settings: FetcherSettings,
    bus: Bus,
) -> None:
    settings = without_periodic_refresh(fetcher_settings)
    inbox_ids = {await make_inbox(dovecot.new_user()) for _ in range(3)}
    async with running(settings) as first:

        async def all_held() -> bool:
            return first.supervisor.running == inbox_ids

        await eventually(all_held, "the first replica to run every inbox")
        async with running(settings) as second:
            assert second.supervisor.held == frozenset()  # everything is owned by a live lease
            await first.stop()  # what SIGTERM does: stop the loops, release, announce

            async def taken_over() -> bool:
                return second.supervisor.running == inbox_ids

            await eventually(taken_over, "the second replica to take every inbox over")
            owners = {row["owner"] for row in await config_db.fetch("SELECT owner FROM fetcher.leases")}
            assert owners == {second.replica}
            assert await config_db.fetchval("SELECT count(*) FROM fetcher.replicas WHERE id = $1", first.replica) == 0
