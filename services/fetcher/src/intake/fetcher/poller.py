"""One inbox's loop: connect, log in, select the folder, then each cycle republish, act, fetch, and wait.

Moves data between the IMAP adapter, the `fetcher` schema and the bus; every decision is made by the
pure modules (checkpoint, headers, backoff). Errors end the connection and reconnect with backoff;
they are logged with the inbox id, never with a secret.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import asyncpg
import structlog
from faststream.rabbit import RabbitBroker

from intake.fetcher import repository
from intake.fetcher.actions import DELETED, SEEN, MailboxAction
from intake.fetcher.auth import authenticator_for
from intake.fetcher.backoff import reconnect_delay
from intake.fetcher.checkpoint import Checkpoint, advance, finish_scan, reconcile, search_criteria, select_new
from intake.fetcher.headers import summarize
from intake.fetcher.inboxes import InboxSettings
from intake.fetcher.settings import FetcherSettings
from intake.shared import bus, topology
from intake.shared.imap import ImapClient, SelectedFolder
from intake.shared.imap_errors import ImapCommandError, ImapError, ImapSettingsError
from intake.shared.secrets import SecretBox

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class PollerContext:
    """What every inbox loop shares: the connections and the knobs."""

    pool: asyncpg.Pool
    broker: RabbitBroker
    secret_box: SecretBox
    settings: FetcherSettings


class InboxPoller:
    """Runs one inbox until cancelled. `wake` cuts the wait between cycles short (an outcome arrived)."""

    def __init__(self, inbox: InboxSettings, context: PollerContext, wake: asyncio.Event) -> None:
        self.inbox = inbox
        self._context = context
        self._settings = context.settings
        self._pool = context.pool
        self._wake = wake
        self._log = log.bind(inbox_id=inbox.id)
        self._cycles = 0  # cycles completed in this process; a session that completed one was healthy

    def _count_failure(self, failures: int, cycles_before: int) -> int:
        """Consecutive failures: a session that completed a cycle resets the count (and the backoff)."""
        return 1 if self._cycles > cycles_before else failures + 1

    async def run(self) -> None:
        failures = 0
        while True:
            cycles_before = self._cycles
            try:
                await self._session()
            except ImapSettingsError as error:
                failures = self._count_failure(failures, cycles_before)
                self._log.error("inbox settings cannot work", reason=error.reason, failures=failures)
            except ImapError as error:
                failures = self._count_failure(failures, cycles_before)
                self._log.warning("imap error", stage=error.stage, error=error.detail, failures=failures)
            except Exception as error:  # database or broker trouble: keep the inbox alive and retry
                failures = self._count_failure(failures, cycles_before)
                self._log.exception("inbox cycle failed", error=str(error), failures=failures)
            delay = reconnect_delay(failures, self._settings.fetcher_max_backoff_seconds)
            self._log.info("reconnecting later", retry_in=round(delay, 2))
            await asyncio.sleep(delay)

    async def _session(self) -> None:
        authenticator = authenticator_for(self.inbox, self._context.secret_box)
        client = await ImapClient.connect(self.inbox.endpoint, self._settings.fetcher_imap_timeout_seconds)
        try:
            await client.authenticate(authenticator)
            folder = await client.select(self.inbox.directory)
            checkpoint = await self._reconciled_checkpoint(folder)
            self._log.info("inbox connected", folder_uidvalidity=folder.uidvalidity, last_uid=checkpoint.last_uid)
            while True:
                self._wake.clear()
                await client.noop()
                await self._republish()
                await self._apply_actions(client, folder)
                checkpoint = await self._fetch_new(client, checkpoint)
                self._cycles += 1
                await self._wait()
        finally:
            await asyncio.shield(client.logout())

    async def _reconciled_checkpoint(self, folder: SelectedFolder) -> Checkpoint:
        stored = await repository.load_checkpoint(self._pool, self.inbox.id)
        result = reconcile(stored, folder.uidvalidity, folder.uidnext, self.inbox.first_fetch)
        if result.changed:
            await repository.save_checkpoint(self._pool, self.inbox.id, result.checkpoint)
            self._log.info(
                "checkpoint set",
                reason=result.reason,
                uidvalidity=result.checkpoint.uidvalidity,
                initial_scan_until=result.checkpoint.initial_scan_until,
            )
        return result.checkpoint

    async def _wait(self) -> None:
        try:
            async with asyncio.timeout(self.inbox.poll_interval_seconds):
                await self._wake.wait()
        except TimeoutError:
            pass

    # -- publishing -------------------------------------------------------------------------------
    async def _publish(self, message: repository.FetchedMessage) -> None:
        """Publish and mark the row as one step, finished even when the loop is cancelled meanwhile.

        A loop is cancelled when its lease is released (fair share, SIGTERM): a confirmed publish
        whose row stayed `stored` would be published a second time by the next owner.
        """
        step = asyncio.ensure_future(self._publish_and_mark(message))
        try:
            await asyncio.shield(step)
        except asyncio.CancelledError:
            await asyncio.wait([step])  # finish the step; the cancellation goes on afterwards
            if not step.cancelled() and step.exception() is not None:
                self._log.warning("publish failed while stopping", uid=message.uid, error=str(step.exception()))
            raise

    async def _publish_and_mark(self, message: repository.FetchedMessage) -> None:
        await bus.publish(self._context.broker, message.event(), topology.MESSAGE_FETCHED)
        await repository.mark_published(self._pool, message.id)
        self._log.info(
            "message fetched",
            uidvalidity=message.uidvalidity,
            uid=message.uid,
            size=message.size,
            sha256=message.raw_sha256,
        )

    async def _republish(self) -> None:
        for message in await repository.unpublished(self._pool, self.inbox.id):
            self._log.info("republishing a stored message", uid=message.uid, uidvalidity=message.uidvalidity)
            await self._publish(message)

    # -- fetching ---------------------------------------------------------------------------------
    async def _fetch_new(self, client: ImapClient, checkpoint: Checkpoint) -> Checkpoint:
        found = await client.uid_search(*search_criteria(checkpoint))
        selection = select_new(checkpoint, found, self._settings.fetcher_max_messages_per_cycle)
        if selection.uids:
            sizes = await client.fetch_sizes(selection.uids)
            for uid in selection.uids:
                checkpoint = await self._fetch_one(client, checkpoint, uid, sizes.get(uid))
        finished = finish_scan(checkpoint, selection)
        if finished != checkpoint:
            await repository.save_checkpoint(self._pool, self.inbox.id, finished)
            self._log.info("initial scan finished", last_uid=finished.last_uid)
        return finished

    async def _pass_over(self, checkpoint: Checkpoint, uid: int) -> Checkpoint:
        advanced = advance(checkpoint, uid)
        await repository.save_checkpoint(self._pool, self.inbox.id, advanced)
        return advanced

    async def _fetch_one(self, client: ImapClient, checkpoint: Checkpoint, uid: int, size: int | None) -> Checkpoint:
        uidvalidity = checkpoint.uidvalidity
        if await repository.message_known(self._pool, self.inbox.id, uidvalidity, uid):
            return await self._pass_over(checkpoint, uid)
        if size is None:
            self._log.info("message vanished before it was fetched", uid=uid)
            return await self._pass_over(checkpoint, uid)
        if size > self._settings.fetcher_max_message_bytes:
            # Issue 3 records a `rejected` row for it; it stays in the mailbox either way.
            self._log.warning(
                "message too large, left in the mailbox",
                uid=uid,
                size=size,
                limit=self._settings.fetcher_max_message_bytes,
            )
            return await self._pass_over(checkpoint, uid)
        raw = await client.fetch_body(uid, size)
        if raw is None:
            self._log.info("message vanished before it was fetched", uid=uid)
            return await self._pass_over(checkpoint, uid)
        advanced = advance(checkpoint, uid)
        stored = await repository.store_message(
            self._pool, self.inbox.id, uidvalidity, uid, raw, summarize(raw), advanced
        )
        if stored is not None:
            await self._publish(stored)
        return advanced

    # -- mailbox actions --------------------------------------------------------------------------
    async def _apply_actions(self, client: ImapClient, folder: SelectedFolder) -> None:
        pending = await repository.pending_actions(
            self._pool, self.inbox.id, self._settings.fetcher_max_messages_per_cycle
        )
        for item in pending:
            if item.uidvalidity != folder.uidvalidity:
                # The UID names no message any more (RFC 3501 §2.3.1.1): acting could hit another one.
                await repository.action_abandoned(self._pool, item.id, "UIDVALIDITY changed before the action")
                self._log.warning("mailbox action abandoned", uid=item.uid, reason="uidvalidity changed")
                continue
            try:
                await self._apply(client, item)
            except ImapCommandError as error:
                await repository.action_failed(self._pool, item.id, str(error))
                self._log.warning("mailbox action failed", uid=item.uid, action=item.action, error=str(error))
                continue
            await repository.action_done(self._pool, item.id)
            self._log.info("mailbox action done", uid=item.uid, action=item.action)

    async def _apply(self, client: ImapClient, item: repository.PendingAction) -> None:
        if item.action is MailboxAction.MARK_READ:
            await client.add_flags(item.uid, SEEN)
            return
        await client.add_flags(item.uid, DELETED)
        if client.supports_uid_expunge:
            await client.uid_expunge(item.uid)
        else:
            # A plain EXPUNGE would also remove messages others flagged \Deleted: never send it.
            self._log.warning("server lacks UIDPLUS; message left flagged \\Deleted", uid=item.uid)
