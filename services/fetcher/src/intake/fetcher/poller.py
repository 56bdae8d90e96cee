"""One inbox's loop: connect, sign in, select the folder, then each cycle republish, act, fetch, and wait
(IMAP IDLE where the server offers it, else a sleep of poll_interval_seconds).

Owns the session and the inbox's health; each cycle it calls publishing.py (republish),
mailbox_actions.py (act) and fetching.py (fetch). Every decision is made by the pure modules
(checkpoint, headers, backoff, health). The steps talk to the mailbox, the rows and the bus through
ports (mailbox.py, inbox_records.py, shared/event_publisher.py) built here. Errors end the connection
and reconnect with backoff; the inbox's health goes out on `inbox.status`. Logs carry the inbox id,
never a secret.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from datetime import UTC, datetime

import asyncpg
import structlog

from intake.fetcher import health, inboxes
from intake.fetcher.auth import AccessTokens, authenticator_for
from intake.fetcher.backoff import reconnect_delay
from intake.fetcher.checkpoint import Checkpoint, reconcile
from intake.fetcher.errors import NeedsReauth
from intake.fetcher.fetching import MessageFetcher
from intake.fetcher.inbox_records import PostgresInboxRecords
from intake.fetcher.inboxes import WatchedInbox
from intake.fetcher.mailbox import Mailbox
from intake.fetcher.mailbox_actions import MailboxActions
from intake.fetcher.metrics import FetcherMetrics
from intake.fetcher.publishing import Publisher
from intake.fetcher.settings import FetcherSettings
from intake.shared import topology
from intake.shared.event_publisher import EventPublisher
from intake.shared.imap_client import IdleEnd, ImapClient, SelectedFolder
from intake.shared.imap_errors import ImapError, ImapSettingsError
from intake.shared.secrets import SecretBox

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class PollerContext:
    """What every inbox loop shares: the connections and the knobs."""

    pool: asyncpg.Pool
    events: EventPublisher
    secret_box: SecretBox
    settings: FetcherSettings
    metrics: FetcherMetrics


class InboxPoller:
    """Runs one inbox until cancelled. `wake` cuts the wait between cycles short (an outcome arrived)."""

    def __init__(self, inbox: WatchedInbox, context: PollerContext, wake: asyncio.Event) -> None:
        self.inbox = inbox
        self._context = context
        self._settings = context.settings
        self._pool = context.pool
        self._wake = wake
        self._log = log.bind(inbox_id=inbox.id)
        self._cycles = 0  # cycles completed in this process; a session that completed one was healthy
        self._health = health.Health(inbox.id)
        self._metrics = context.metrics.for_inbox(inbox.id)
        self._records = PostgresInboxRecords(context.pool, inbox.id)
        self._publisher = Publisher(self._records, context.events, self._metrics, self._log)
        self._fetcher = MessageFetcher(
            self._records,
            self._publisher,
            self._log,
            max_messages_per_cycle=self._settings.fetcher_max_messages_per_cycle,
            max_message_bytes=self._settings.fetcher_max_message_bytes,
        )
        self._actions = MailboxActions(self._records, self._settings.fetcher_max_messages_per_cycle, self._log)
        service_token = self._settings.service_token
        self._tokens = AccessTokens(
            self._settings.config_api_url,
            service_token.get_secret_value() if service_token is not None else None,
            inbox.id,
            self._settings.fetcher_imap_timeout_seconds,
        )

    def _count_failure(self, failures: int, cycles_before: int) -> int:
        """Consecutive failures: a session that completed a cycle resets the count (and the backoff)."""
        return 1 if self._cycles > cycles_before else failures + 1

    async def run(self) -> None:
        failures = 0
        while True:
            cycles_before = self._cycles
            try:
                await self._session()
            except NeedsReauth as error:
                # config-api has marked the inbox needs_reauth: asking again would only fail again.
                self._log.warning("inbox needs a new OAuth2 sign-in", reason=error.reason)
                await self._failed(error)
                await self._until_settings_change()
                failures = 0
                continue
            except ImapSettingsError as error:
                failures = self._count_failure(failures, cycles_before)
                self._log.error("inbox settings cannot work", reason=error.reason, failures=failures)
                await self._failed(error)
            except ImapError as error:
                failures = self._count_failure(failures, cycles_before)
                self._log.warning("imap error", stage=error.stage, error=error.detail, failures=failures)
                await self._failed(error)
            except Exception as error:  # config-api, database or broker trouble: keep the inbox alive
                failures = self._count_failure(failures, cycles_before)
                self._log.warning("inbox cycle failed", error=str(error), kind=type(error).__name__, failures=failures)
                await self._failed(error)
            delay = reconnect_delay(failures, self._settings.fetcher_max_backoff_seconds)
            self._log.info("reconnecting later", retry_in=round(delay, 2))
            await asyncio.sleep(delay)

    async def _session(self) -> None:
        authenticator = authenticator_for(self.inbox, self._context.secret_box, self._tokens)
        client = await ImapClient.connect(self.inbox.endpoint, self._settings.fetcher_imap_timeout_seconds)
        try:
            await client.authenticate(authenticator)
            folder = await client.select(self.inbox.directory)
            checkpoint = await self._reconciled_checkpoint(client, folder)
            push = client.supports_idle
            self._log.info(
                "inbox connected", folder_uidvalidity=folder.uidvalidity, last_uid=checkpoint.last_uid, push=push
            )
            while True:
                self._wake.clear()
                await client.noop()
                await self._publisher.republish()
                await self._actions.apply_pending(client, folder)
                checkpoint, more = await self._fetcher.fetch_new(client, checkpoint)
                self._cycles += 1
                await self._succeeded(push)
                if not more:
                    await self._wait(client)
        finally:
            await asyncio.shield(client.logout())

    async def _reconciled_checkpoint(self, client: Mailbox, folder: SelectedFolder) -> Checkpoint:
        stored = await self._records.load_checkpoint()
        uidnext = folder.uidnext
        if uidnext is None and (stored is None or stored.uidvalidity != folder.uidvalidity):
            # UIDNEXT is optional (RFC 3501 §6.3.1): the unread rule needs the folder's real ceiling.
            uidnext = max(await client.uid_search("ALL"), default=0) + 1
        result = reconcile(stored, folder.uidvalidity, uidnext, self.inbox.first_fetch)
        if result.changed:
            await self._records.save_checkpoint(result.checkpoint)
            self._log.info(
                "checkpoint set",
                reason=result.reason,
                uidvalidity=result.checkpoint.uidvalidity,
                initial_scan_until=result.checkpoint.initial_scan_until,
            )
        return result.checkpoint

    async def _wait(self, client: ImapClient) -> None:
        """Until the next cycle: IDLE where offered (new mail, an outcome, or the periodic full check
        every poll_interval_seconds end it; re-issued every fetcher_idle_seconds), else a sleep."""
        interval = self.inbox.poll_interval_seconds
        if not client.supports_idle:
            try:
                async with asyncio.timeout(interval):
                    await self._wake.wait()
            except TimeoutError:
                pass
            return
        loop = asyncio.get_running_loop()
        deadline = loop.time() + interval
        while (remaining := deadline - loop.time()) > 0:
            end = await client.idle(min(remaining, self._settings.fetcher_idle_seconds), self._wake)
            if end is not IdleEnd.TIMED_OUT:
                return

    async def _until_settings_change(self) -> None:
        """Wait until the inbox's settings change (or it is gone); the supervisor may restart us first."""
        while True:
            await asyncio.sleep(self._settings.fetcher_inbox_refresh_seconds)
            try:
                updated_at = await inboxes.updated_at_of(self._pool, self.inbox.id)
            except Exception as error:  # the database is down: look again later
                self._log.debug("inbox settings could not be read", error=str(error))
                continue
            if updated_at != self.inbox.updated_at:
                return

    # -- health -------------------------------------------------------------------------------------
    async def _succeeded(self, push: bool) -> None:
        self._health = health.succeeded(self._health, datetime.now(UTC), push)
        self._metrics.last_cycle.set(time.time())
        await self._report()

    async def _failed(self, error: BaseException) -> None:
        self._metrics.errors[health.error_kind(error)].inc()
        self._health = health.failed(self._health, health.describe(error, self.inbox.attempt))
        await self._report()

    async def _report(self) -> None:
        now = datetime.now(UTC)
        if not health.due(self._health, now):
            return
        status = self._health.status(now)
        try:
            await self._context.events.publish(status, topology.INBOX_STATUS, mandatory=False)
        except Exception as error:  # the broker is down: the next change or minute reports again
            self._log.warning("inbox status not published", error=str(error))
            return
        self._health = health.reported(self._health, now)
        self._log.info(
            "inbox status",
            state=status.state.value,
            last_error=status.last_error,
            consecutive_failures=status.consecutive_failures,
            push=status.push,
        )
