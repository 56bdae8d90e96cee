"""One inbox's loop: connect, sign in, select the folder, then each cycle republish, act, fetch, and wait
(IMAP IDLE where the server offers it, else a sleep of poll_interval_seconds).

Moves data between the IMAP adapter, the `fetcher` schema and the bus; every decision is made by the
pure modules (checkpoint, headers, backoff, health). Errors end the connection and reconnect with
backoff; the inbox's health goes out on `inbox.status`. Logs carry the inbox id, never a secret.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import UTC, datetime

import asyncpg
import structlog
from faststream.rabbit import RabbitBroker

from intake.fetcher import health, inboxes, repository
from intake.fetcher.actions import DELETED, SEEN, MailboxAction
from intake.fetcher.auth import AccessTokens, authenticator_for
from intake.fetcher.backoff import reconnect_delay
from intake.fetcher.checkpoint import Checkpoint, advance, finish_scan, reconcile, search_criteria, select_new
from intake.fetcher.errors import NeedsReauth
from intake.fetcher.headers import summarize
from intake.fetcher.inboxes import InboxSettings
from intake.fetcher.settings import FetcherSettings
from intake.shared import bus, topology
from intake.shared.imap import IdleEnd, ImapClient, SelectedFolder
from intake.shared.imap_errors import ImapCommandError, ImapConnectError, ImapError, ImapSettingsError, ImapTimeout
from intake.shared.secrets import SecretBox

log = structlog.get_logger(__name__)

# Stored messages are published (each confirmed) this many at a time: one confirm round trip per
# message would bound a cycle's throughput; order on the bus does not matter downstream.
PUBLISH_BATCH = 32
# A message that still exists but whose FETCH answer cannot be read is tried this often (one try per
# cycle) before it is published as rejected, so it neither vanishes silently nor blocks the inbox.
MAX_READ_ATTEMPTS = 3


@dataclass(frozen=True)
class PollerContext:
    """What every inbox loop shares: the connections and the knobs."""

    pool: asyncpg.Pool
    broker: RabbitBroker
    secret_box: SecretBox
    settings: FetcherSettings


@dataclass(frozen=True)
class _Step:
    """After one UID: the checkpoint to carry on with, and whether the UID was settled (False: it
    still exists and must be read again, so the checkpoint may not move past it)."""

    checkpoint: Checkpoint
    settled: bool = True


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
        self._unpublished: list[repository.FetchedMessage] = []  # stored this cycle, not yet published
        self._health = health.Health(inbox.id)
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
                await self._republish()
                await self._apply_actions(client, folder)
                checkpoint, more = await self._fetch_new(client, checkpoint)
                self._cycles += 1
                await self._succeeded(push)
                if not more:
                    await self._wait(client)
        finally:
            await asyncio.shield(client.logout())

    async def _reconciled_checkpoint(self, client: ImapClient, folder: SelectedFolder) -> Checkpoint:
        stored = await repository.load_checkpoint(self._pool, self.inbox.id)
        uidnext = folder.uidnext
        if uidnext is None and (stored is None or stored.uidvalidity != folder.uidvalidity):
            # UIDNEXT is optional (RFC 3501 §6.3.1): the unread rule needs the folder's real ceiling.
            uidnext = max(await client.uid_search("ALL"), default=0) + 1
        result = reconcile(stored, folder.uidvalidity, uidnext, self.inbox.first_fetch)
        if result.changed:
            await repository.save_checkpoint(self._pool, self.inbox.id, result.checkpoint)
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
        await self._report()

    async def _failed(self, error: BaseException) -> None:
        self._health = health.failed(self._health, health.describe(error))
        await self._report()

    async def _report(self) -> None:
        now = datetime.now(UTC)
        if not health.due(self._health, now):
            return
        status = self._health.status(now)
        try:
            await bus.publish(self._context.broker, status, topology.INBOX_STATUS, mandatory=False)
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
            rejected=message.rejected,
        )

    async def _republish(self) -> None:
        for message in await repository.unpublished(self._pool, self.inbox.id):
            self._log.info("republishing a stored message", uid=message.uid, uidvalidity=message.uidvalidity)
            await self._publish(message)

    # -- fetching ---------------------------------------------------------------------------------
    async def _fetch_new(self, client: ImapClient, checkpoint: Checkpoint) -> tuple[Checkpoint, bool]:
        """Fetch this cycle's new messages; also return whether more are waiting (start again at once)."""
        found = await client.uid_search(*search_criteria(checkpoint))
        selection = select_new(checkpoint, found, self._settings.fetcher_max_messages_per_cycle)
        held = False
        if selection.uids:
            sizes = await client.fetch_sizes(selection.uids)
            tried = await repository.fetch_attempts(self._pool, self.inbox.id, checkpoint.uidvalidity, selection.uids)
            try:
                for uid in selection.uids:
                    step = await self._fetch_one(client, checkpoint, uid, sizes.get(uid), held, tried.get(uid))
                    checkpoint = step.checkpoint
                    held = held or not step.settled
                    if len(self._unpublished) >= PUBLISH_BATCH:
                        await self._publish_stored()
            finally:
                # Also after an error or a stop: what is stored is published now, and finished before
                # the loop ends (a lease release must not leave a confirmed publish unmarked).
                flush = asyncio.ensure_future(self._publish_stored())
                try:
                    await asyncio.shield(flush)
                except asyncio.CancelledError:
                    await asyncio.wait([flush])
                    raise
        if held:
            return checkpoint, False  # a message must be read again: next cycle, after the wait
        finished = finish_scan(checkpoint, selection)
        if finished != checkpoint:
            await repository.save_checkpoint(self._pool, self.inbox.id, finished)
            self._log.info("initial scan finished", last_uid=finished.last_uid)
        return finished, selection.truncated

    async def _pass_over(self, checkpoint: Checkpoint, uid: int, held: bool) -> _Step:
        if held:  # an earlier UID must be read again: the checkpoint stays below it
            return _Step(checkpoint)
        advanced = advance(checkpoint, uid)
        await repository.save_checkpoint(self._pool, self.inbox.id, advanced)
        return _Step(advanced)

    async def _fetch_one(
        self,
        client: ImapClient,
        checkpoint: Checkpoint,
        uid: int,
        size: int | None,
        held: bool,
        tried: repository.FetchAttempts | None = None,
    ) -> _Step:
        uidvalidity = checkpoint.uidvalidity
        if await repository.message_known(self._pool, self.inbox.id, uidvalidity, uid):
            return await self._pass_over(checkpoint, uid, held)  # in flight or done: never published again
        if tried is not None and tried.attempts >= MAX_READ_ATTEMPTS:
            # Each try ended the connection (a message the server cannot serve): do not try again.
            reason = f"unreadable: fetching it failed {tried.attempts} times (last: {tried.last_error})"
            self._log.warning("message unreadable, published as rejected; left in the mailbox", uid=uid)
            return await self._store(checkpoint, uid, b"", held, size=size or 0, rejected=reason)
        if size is None:
            return await self._unreadable(client, checkpoint, uid, size, "the server sent no size for it", held)
        limit = self._settings.fetcher_max_message_bytes
        try:
            if size > limit:
                raw = await client.fetch_header(uid)
                rejected: str | None = f"too large: {size} bytes, the limit is {limit} bytes"
            else:
                raw = await client.fetch_body(uid, size)
                rejected = None
        except (ImapCommandError, ImapTimeout, ImapConnectError) as error:
            if error.stage != "fetch":
                raise
            return await self._unreadable(client, checkpoint, uid, size, str(error), held, error)
        if raw is None:
            return await self._unreadable(client, checkpoint, uid, size, "its FETCH answer held no body", held)
        if rejected is not None:
            self._log.warning("message too large, only its header is stored; left in the mailbox", uid=uid, size=size)
        return await self._store(checkpoint, uid, raw, held, size=size if rejected else None, rejected=rejected)

    async def _store(
        self,
        checkpoint: Checkpoint,
        uid: int,
        raw: bytes | bytearray,
        held: bool,
        *,
        size: int | None,
        rejected: str | None,
    ) -> _Step:
        advanced = checkpoint if held else advance(checkpoint, uid)
        stored = await repository.store_message(
            self._pool,
            self.inbox.id,
            checkpoint.uidvalidity,
            uid,
            raw,
            summarize(raw),
            advanced,
            size=size,
            rejected=rejected,
        )
        if stored is not None:
            self._unpublished.append(stored)
        return _Step(advanced)

    async def _publish_stored(self) -> None:
        batch, self._unpublished = self._unpublished, []
        if batch:
            await asyncio.gather(*(self._publish(message) for message in batch))

    async def _unreadable(
        self,
        client: ImapClient,
        checkpoint: Checkpoint,
        uid: int,
        size: int | None,
        what: str,
        held: bool,
        error: ImapError | None = None,
    ) -> _Step:
        """A UID whose FETCH gave nothing usable: passed over only if it is really gone (UID SEARCH);
        else read again next cycle, and after MAX_READ_ATTEMPTS published as rejected with the reason."""
        if isinstance(error, ImapTimeout | ImapConnectError):
            # The connection is gone or in an unknown state: count the try, then reconnect. A message
            # that ends the connection every time is rejected before the next try (_fetch_one).
            await repository.count_fetch_attempt(self._pool, self.inbox.id, checkpoint.uidvalidity, uid, what)
            raise error
        if not await client.uid_exists(uid):
            self._log.info("message vanished before it was fetched", uid=uid)
            return await self._pass_over(checkpoint, uid, held)
        attempts = await repository.count_fetch_attempt(self._pool, self.inbox.id, checkpoint.uidvalidity, uid, what)
        if attempts < MAX_READ_ATTEMPTS:
            self._log.warning(
                "message could not be read; trying again next cycle", uid=uid, attempts=attempts, error=what
            )
            return _Step(checkpoint, settled=False)
        header = await self._header_or_nothing(client, uid)
        reason = f"unreadable: the server's answer to FETCH could not be read after {attempts} attempts ({what})"
        self._log.warning("message unreadable, published as rejected; left in the mailbox", uid=uid, error=what)
        return await self._store(
            checkpoint, uid, header, held, size=size if size is not None else len(header), rejected=reason
        )

    async def _header_or_nothing(self, client: ImapClient, uid: int) -> bytes | bytearray:
        try:
            return await client.fetch_header(uid) or b""
        except ImapCommandError:
            return b""

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
            # Without UIDPLUS only a plain EXPUNGE exists, and it would also remove every message
            # someone else flagged \Deleted: never send it. The message stays flagged \Deleted until
            # the user's own client expunges the folder.
            self._log.warning("server lacks UIDPLUS; message left flagged \\Deleted", uid=item.uid)
