"""The fetcher application as a whole: it starts before config-api has migrated, and stops cleanly."""

from __future__ import annotations

import asyncpg

from intake.fetcher.settings import FetcherSettings
from intake.shared.migrations import migrate
from intake.shared.secrets import SecretBox
from tests.integration.fetcher.conftest import Bus, eventually, message, running
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
