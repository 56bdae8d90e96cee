"""One inbox's loop: connect, sign in, select the folder, then each cycle republish, act, fetch, and wait
(IMAP IDLE where the server offers it, else a sleep of poll_interval_seconds).

Moves data between the IMAP adapter, the `fetcher` schema and the bus; every decision is made by the
pure modules (checkpoint, headers, backoff, health). Errors end the connection and reconnect with
backoff; the inbox's health goes out on `inbox.status`. Logs carry the inbox id, never a secret.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from dataclasses import dataclass
from datetime import UTC, datetime

import asyncpg
import structlog
from faststream.rabbit import RabbitBroker

from intake.fetcher import fetch_runs, health, inboxes, repository
from intake.fetcher.actions import DELETED, SEEN
from intake.fetcher.auth import AccessTokens, authenticator_for
from intake.fetcher.backoff import reconnect_delay
from intake.fetcher.checkpoint import Checkpoint, advance, finish_scan, reconcile, search_criteria, select_new
from intake.fetcher.commit_pipeline import CommitPipeline
from intake.fetcher.errors import NeedsReauth
from intake.fetcher.headers import summarize
from intake.fetcher.inboxes import WatchedInbox
from intake.fetcher.metrics import FetcherMetrics
from intake.fetcher.settings import FetcherSettings
from intake.shared import batched_events, bus, topology
from intake.shared.imap_client import IdleEnd, ImapClient, SelectedFolder
from intake.shared.imap_errors import ImapCommandError, ImapConnectError, ImapError, ImapSettingsError, ImapTimeout
from intake.shared.inbox_vocabulary import ProcessedAction
from intake.shared.secrets import SecretBox

log = structlog.get_logger(__name__)

# Messages left `stored` (a crash or a failed publish) are republished this many at a time, as one
# `FetchedBatch` (a fetched batch is published the same way); order on the bus does not matter
# downstream.
PUBLISH_BATCH = 32
# Fetched batches whose confirms may be awaited at once: each confirm waits for a quorum-queue commit
# on RabbitMQ, so one batch at a time left a single inbox fetching at about one batch per commit.
PUBLISHES_IN_FLIGHT = 4
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
    metrics: FetcherMetrics


@dataclass(frozen=True)
class _Read:
    """What one UID came to: a message to store, or none (gone, or known already), and whether the
    UID was settled (False: it still exists and must be read again, so the checkpoint may not move
    past it)."""

    message: repository.NewMessage | None = None
    settled: bool = True


def _rejected(uid: int, raw: bytes | bytearray, size: int, reason: str) -> _Read:
    """A message published as rejected: only what was read of it (its header, or nothing), its real size."""
    return _Read(repository.NewMessage(uid, raw, summarize(raw), size=size, rejected=reason))


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
        # Fetched batches being stored (in order) and published (overlapping), behind the next FETCH.
        self._commits = CommitPipeline(PUBLISHES_IN_FLIGHT)
        self._health = health.Health(inbox.id)
        self._metrics = context.metrics.for_inbox(inbox.id)
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
        self._metrics.last_cycle.set(time.time())
        await self._report()

    async def _failed(self, error: BaseException) -> None:
        self._metrics.errors[health.error_kind(error)].inc()
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
    async def _publish(self, messages: list[repository.FetchedMessage]) -> None:
        """Publish `messages` (confirms awaited together) and mark the confirmed ones as one step,
        finished even when the loop is cancelled meanwhile.

        A loop is cancelled when its lease is released (fair share, SIGTERM): a confirmed publish
        whose row stayed `stored` would be published a second time by the next owner.
        """
        step = asyncio.ensure_future(self._publish_and_mark(messages))
        try:
            await asyncio.shield(step)
        except asyncio.CancelledError:
            await asyncio.wait([step])  # finish the step; the cancellation goes on afterwards
            if not step.cancelled() and step.exception() is not None:
                uids = [message.uid for message in messages]
                self._log.warning("publish failed while stopping", uids=uids, error=str(step.exception()))
            raise

    async def _publish_and_mark(self, messages: list[repository.FetchedMessage]) -> None:
        # Several messages go as one `FetchedBatch`: one publish, and one delivery to each consumer.
        event, correlation = batched_events.fetched_message(
            [(message.event(), message.correlation_id) for message in messages]
        )
        (failure,) = await bus.publish_each(
            self._context.broker, [(event, topology.MESSAGE_FETCHED, True)], [correlation]
        )
        confirmed = messages if failure is None else []
        if confirmed:
            await repository.mark_published(self._pool, [message.id for message in confirmed])
            self._metrics.fetched.inc(len(confirmed))
            # One line per published batch, naming each message (uid, message_id, correlation_id): what the
            # ingestor's and config-api's lines about it are found by.
            self._log.info(
                "messages fetched",
                uidvalidity=confirmed[0].uidvalidity,
                messages=[message.log_fields() for message in confirmed],
                bytes=sum(message.size for message in confirmed),
            )
        if failure is not None:
            raise failure  # they stay `stored` and are republished at the next cycle

    async def _republish(self) -> None:
        stored = await repository.unpublished(self._pool, self.inbox.id)
        if stored:
            self._log.info("republishing stored messages", messages=[message.log_fields() for message in stored])
        for start in range(0, len(stored), PUBLISH_BATCH):
            await self._publish(stored[start : start + PUBLISH_BATCH])

    # -- fetching ---------------------------------------------------------------------------------
    async def _fetch_new(self, client: ImapClient, checkpoint: Checkpoint) -> tuple[Checkpoint, bool]:
        """Fetch this cycle's new messages; also return whether more are waiting (start again at once)."""
        found = await client.uid_search(*search_criteria(checkpoint))
        selection = select_new(checkpoint, found, self._settings.fetcher_max_messages_per_cycle)
        held = False
        if selection.uids:
            uidvalidity = checkpoint.uidvalidity
            listing = await client.fetch_listing(selection.uids)
            sizes = {uid: listed.size for uid, listed in listing.items()}
            arrivals = {uid: listed.internal_date for uid, listed in listing.items()}
            tried = await repository.fetch_attempts(self._pool, self.inbox.id, uidvalidity, selection.uids)
            known = await repository.known_uids(self._pool, self.inbox.id, uidvalidity, selection.uids)
            limit = min(self._settings.fetcher_max_message_bytes, fetch_runs.MAX_BATCHED_BODY_BYTES)
            batchable = {
                uid
                for uid in selection.uids
                if uid not in known and uid not in tried and (size := sizes.get(uid)) is not None and size <= limit
            }
            # Also after an error or a stop: what is stored is published now, and finished before the
            # loop ends (a lease release must not leave a confirmed publish unmarked).
            try:
                for batch in fetch_runs.plan(selection.uids, sizes, batchable):
                    checkpoint, held = await self._fetch_batch(
                        client, checkpoint, batch, sizes, arrivals, known, tried, held
                    )
            except BaseException as failure:
                await self._commits.finish(failure)
                raise
            await self._commits.finish()
        if held:
            return checkpoint, False  # a message must be read again: next cycle, after the wait
        finished = finish_scan(checkpoint, selection)
        if finished != checkpoint:
            await repository.save_checkpoint(self._pool, self.inbox.id, finished)
            self._log.info("initial scan finished", last_uid=finished.last_uid)
        return finished, selection.truncated

    async def _fetch_batch(
        self,
        client: ImapClient,
        checkpoint: Checkpoint,
        batch: fetch_runs.Batch,
        sizes: dict[int, int],
        arrivals: dict[int, datetime | None],
        known: set[int],
        tried: dict[int, repository.FetchAttempts],
        held: bool,
    ) -> tuple[Checkpoint, bool]:
        """Read one batch (its small bodies with one FETCH, the rest one by one), then hand its
        messages and the checkpoint past them to `_commit`. Returns the checkpoint and whether a UID
        must be read again (the checkpoint then stays below it for the rest of the cycle)."""
        bodies: dict[int, bytes | bytearray] = {}
        one_by_one = False
        if batch.together:
            try:
                bodies = await client.fetch_bodies(batch.together, sum(sizes[uid] for uid in batch.together))
            except (ImapCommandError, ImapTimeout, ImapConnectError) as error:
                if error.stage != "fetch":
                    raise
                if isinstance(error, ImapTimeout | ImapConnectError):
                    # Count a try for each: next cycle each is fetched alone (tried before), so a
                    # message that ends the connection every time is soon rejected on its own.
                    for uid in batch.together:
                        await repository.count_fetch_attempt(
                            self._pool, self.inbox.id, checkpoint.uidvalidity, uid, str(error)
                        )
                    raise
                one_by_one = True  # the server said NO to the batch: ask for each alone
        start = checkpoint
        new: list[repository.NewMessage] = []
        for uid in batch.uids:
            if uid in known:
                read = _Read()  # in flight or done: never published again
            elif uid in batch.together and uid in bodies:
                read = _Read(repository.NewMessage(uid, bodies[uid], summarize(bodies[uid])))
            elif uid in batch.together and not one_by_one:
                what = "its FETCH answer held no body"
                read = await self._unreadable(client, checkpoint.uidvalidity, uid, sizes.get(uid), what)
            else:
                read = await self._fetch_one(client, checkpoint.uidvalidity, uid, sizes.get(uid), tried.get(uid))
            if not read.settled:
                held = True
                continue
            if read.message is not None:
                new.append(dataclasses.replace(read.message, internal_date=arrivals.get(uid)))
            if not held:  # an earlier UID must be read again: the checkpoint stays below it
                checkpoint = advance(checkpoint, uid)
        if new or checkpoint != start:
            await self._commit(new, checkpoint)
        return checkpoint, held

    async def _commit(self, messages: list[repository.NewMessage], checkpoint: Checkpoint) -> None:
        """Store `messages` with `checkpoint` (one transaction), then publish them, in the background:
        the next batch's FETCH goes out meanwhile. Stores go one at a time, in order, so checkpoints
        only move forward; publishes overlap (commit_pipeline.py)."""

        # Taken out when stored, so a batch waiting for its confirms no longer holds the raw bodies:
        # only the batch being stored and the one waiting behind it do (as with one batch in flight).
        unstored = [messages]

        async def store() -> list[repository.FetchedMessage]:
            batch = unstored.pop()
            if not batch:
                await repository.save_checkpoint(self._pool, self.inbox.id, checkpoint)
                return []
            return await repository.store_messages(self._pool, self.inbox.id, checkpoint.uidvalidity, batch, checkpoint)

        async def publish(stored: list[repository.FetchedMessage]) -> None:
            if stored:
                await self._publish(stored)

        await self._commits.submit(store, publish)

    async def _fetch_one(
        self,
        client: ImapClient,
        uidvalidity: int,
        uid: int,
        size: int | None,
        tried: repository.FetchAttempts | None = None,
    ) -> _Read:
        """A UID not fetched with its batch: too large (header only), tried before, or without a size."""
        if tried is not None and tried.attempts >= MAX_READ_ATTEMPTS:
            # Each try ended the connection (a message the server cannot serve): do not try again.
            reason = f"unreadable: fetching it failed {tried.attempts} times (last: {tried.last_error})"
            self._log.warning("message unreadable, published as rejected; left in the mailbox", uid=uid)
            return _rejected(uid, b"", size or 0, reason)
        if size is None:
            return await self._unreadable(client, uidvalidity, uid, size, "the server sent no size for it")
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
            return await self._unreadable(client, uidvalidity, uid, size, str(error), error)
        if raw is None:
            return await self._unreadable(client, uidvalidity, uid, size, "its FETCH answer held no body")
        if rejected is not None:
            self._log.warning("message too large, only its header is stored; left in the mailbox", uid=uid, size=size)
            return _rejected(uid, raw, size, rejected)
        return _Read(repository.NewMessage(uid, raw, summarize(raw)))

    async def _unreadable(
        self,
        client: ImapClient,
        uidvalidity: int,
        uid: int,
        size: int | None,
        what: str,
        error: ImapError | None = None,
    ) -> _Read:
        """A UID whose FETCH gave nothing usable: passed over only if it is really gone (UID SEARCH);
        else read again next cycle, and after MAX_READ_ATTEMPTS published as rejected with the reason."""
        if isinstance(error, ImapTimeout | ImapConnectError):
            # The connection is gone or in an unknown state: count the try, then reconnect. A message
            # that ends the connection every time is rejected before the next try (_fetch_one).
            await repository.count_fetch_attempt(self._pool, self.inbox.id, uidvalidity, uid, what)
            raise error
        if not await client.uid_exists(uid):
            self._log.info("message vanished before it was fetched", uid=uid)
            return _Read()
        attempts = await repository.count_fetch_attempt(self._pool, self.inbox.id, uidvalidity, uid, what)
        if attempts < MAX_READ_ATTEMPTS:
            self._log.warning(
                "message could not be read; trying again next cycle", uid=uid, attempts=attempts, error=what
            )
            return _Read(settled=False)
        header = await self._header_or_nothing(client, uid)
        reason = f"unreadable: the server's answer to FETCH could not be read after {attempts} attempts ({what})"
        self._log.warning("message unreadable, published as rejected; left in the mailbox", uid=uid, error=what)
        return _rejected(uid, header, size if size is not None else len(header), reason)

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
        current = [item for item in pending if item.uidvalidity == folder.uidvalidity]
        for item in pending:
            if item.uidvalidity != folder.uidvalidity:
                # The UID names no message any more (RFC 3501 §2.3.1.1): acting could hit another one.
                await repository.action_abandoned(self._pool, item.id, "UIDVALIDITY changed before the action")
                self._log.warning("mailbox action abandoned", **item.log_fields(), reason="uidvalidity changed")
        reads = [item for item in current if item.action is ProcessedAction.MARK_READ]
        if len(reads) > 1:
            # All \Seen flags with one UID STORE; if the server refuses it, each is tried alone below.
            try:
                await client.add_flags([item.uid for item in reads], SEEN)
            except ImapCommandError as error:
                self._log.info("marking several read at once failed; one by one", error=str(error))
            else:
                await repository.action_done(self._pool, [item.id for item in reads])
                self._log.info(
                    "mailbox actions done",
                    messages=[item.log_fields() for item in reads],
                    action=ProcessedAction.MARK_READ,
                )
                current = [item for item in current if item.action is not ProcessedAction.MARK_READ]
        for item in current:
            try:
                await self._apply(client, item)
            except ImapCommandError as error:
                await repository.action_failed(self._pool, item.id, str(error))
                self._log.warning("mailbox action failed", **item.log_fields(), action=item.action, error=str(error))
                continue
            await repository.action_done(self._pool, [item.id])
            self._log.info("mailbox action done", **item.log_fields(), action=item.action)

    async def _apply(self, client: ImapClient, item: repository.PendingAction) -> None:
        if item.action is ProcessedAction.MARK_READ:
            await client.add_flags(item.uid, SEEN)
            return
        await client.add_flags(item.uid, DELETED)
        if client.supports_uid_expunge:
            await client.uid_expunge(item.uid)
        else:
            # Without UIDPLUS only a plain EXPUNGE exists, and it would also remove every message
            # someone else flagged \Deleted: never send it. The message stays flagged \Deleted until
            # the user's own client expunges the folder.
            self._log.warning("server lacks UIDPLUS; message left flagged \\Deleted", **item.log_fields())
