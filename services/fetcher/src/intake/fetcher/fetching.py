"""Fetching one inbox's new messages in a cycle: search past the checkpoint, read them in batches
(small bodies together, the rest one by one), pass over what is gone, reject what cannot be read or
is too large, and hand each batch with its checkpoint to the commit pipeline (store, then publish)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import datetime

import asyncpg
from structlog.typing import FilteringBoundLogger

from intake.fetcher import fetch_runs, repository
from intake.fetcher.checkpoint import Checkpoint, advance, finish_scan, search_criteria, select_new
from intake.fetcher.commit_pipeline import CommitPipeline
from intake.fetcher.headers import summarize
from intake.fetcher.publishing import Publisher
from intake.fetcher.settings import FetcherSettings
from intake.shared.imap_client import ImapClient
from intake.shared.imap_errors import ImapCommandError, ImapConnectError, ImapError, ImapTimeout

# Fetched batches whose confirms may be awaited at once: each confirm waits for a quorum-queue commit
# on RabbitMQ, so one batch at a time left a single inbox fetching at about one batch per commit.
PUBLISHES_IN_FLIGHT = 4
# A message that still exists but whose FETCH answer cannot be read is tried this often (one try per
# cycle) before it is published as rejected, so it neither vanishes silently nor blocks the inbox.
MAX_READ_ATTEMPTS = 3


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


class MessageFetcher:
    """Fetches one inbox's new messages, cycle after cycle; stores and publishes them behind the next FETCH."""

    def __init__(
        self,
        inbox_id: int,
        pool: asyncpg.Pool,
        settings: FetcherSettings,
        publisher: Publisher,
        inbox_log: FilteringBoundLogger,
    ) -> None:
        self._inbox_id = inbox_id
        self._pool = pool
        self._settings = settings
        self._publisher = publisher
        self._log = inbox_log
        # Fetched batches being stored (in order) and published (overlapping), behind the next FETCH.
        self._commits = CommitPipeline(PUBLISHES_IN_FLIGHT)

    async def fetch_new(self, client: ImapClient, checkpoint: Checkpoint) -> tuple[Checkpoint, bool]:
        """Fetch this cycle's new messages; also return whether more are waiting (start again at once)."""
        found = await client.uid_search(*search_criteria(checkpoint))
        selection = select_new(checkpoint, found, self._settings.fetcher_max_messages_per_cycle)
        held = False
        if selection.uids:
            uidvalidity = checkpoint.uidvalidity
            listing = await client.fetch_listing(selection.uids)
            sizes = {uid: listed.size for uid, listed in listing.items()}
            arrivals = {uid: listed.internal_date for uid, listed in listing.items()}
            tried = await repository.fetch_attempts(self._pool, self._inbox_id, uidvalidity, selection.uids)
            known = await repository.known_uids(self._pool, self._inbox_id, uidvalidity, selection.uids)
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
            await repository.save_checkpoint(self._pool, self._inbox_id, finished)
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
                            self._pool, self._inbox_id, checkpoint.uidvalidity, uid, str(error)
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
                await repository.save_checkpoint(self._pool, self._inbox_id, checkpoint)
                return []
            return await repository.store_messages(
                self._pool, self._inbox_id, checkpoint.uidvalidity, batch, checkpoint
            )

        async def publish(stored: list[repository.FetchedMessage]) -> None:
            if stored:
                await self._publisher.publish(stored)

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
            await repository.count_fetch_attempt(self._pool, self._inbox_id, uidvalidity, uid, what)
            raise error
        if not await client.uid_exists(uid):
            self._log.info("message vanished before it was fetched", uid=uid)
            return _Read()
        attempts = await repository.count_fetch_attempt(self._pool, self._inbox_id, uidvalidity, uid, what)
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
