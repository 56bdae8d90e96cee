"""Fetching one inbox's new messages in a cycle: search past the checkpoint, read them in batches
(small bodies together, the rest one by one), pass over what is gone, reject what cannot be read or
is too large, and hand each batch with its checkpoint to the commit pipeline (store, then publish).

Reads the folder through the `Mailbox` port and keeps the rows through `InboxRecords`."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import datetime

from structlog.typing import FilteringBoundLogger

from intake.fetcher import fetch_runs
from intake.fetcher.checkpoint import Checkpoint, advance, finish_scan, search_criteria, select_new
from intake.fetcher.commit_pipeline import CommitPipeline
from intake.fetcher.headers import summarize
from intake.fetcher.inbox_records import InboxRecords
from intake.fetcher.mailbox import Mailbox
from intake.fetcher.publishing import Publisher
from intake.fetcher.repository import FetchAttempts, FetchedMessage, NewMessage
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

    message: NewMessage | None = None
    settled: bool = True


def _rejected(uid: int, raw: bytes | bytearray, size: int, reason: str) -> _Read:
    """A message published as rejected: only what was read of it (its header, or nothing), its real size."""
    return _Read(NewMessage(uid, raw, summarize(raw), size=size, rejected=reason))


class MessageFetcher:
    """Fetches one inbox's new messages, cycle after cycle; stores and publishes them behind the next FETCH."""

    def __init__(
        self,
        records: InboxRecords,
        publisher: Publisher,
        inbox_log: FilteringBoundLogger,
        *,
        max_messages_per_cycle: int,
        max_message_bytes: int,
    ) -> None:
        self._records = records
        self._max_messages_per_cycle = max_messages_per_cycle
        self._max_message_bytes = max_message_bytes
        self._publisher = publisher
        self._log = inbox_log
        # Fetched batches being stored (in order) and published (overlapping), behind the next FETCH.
        self._commits = CommitPipeline(PUBLISHES_IN_FLIGHT)

    async def fetch_new(self, mailbox: Mailbox, checkpoint: Checkpoint) -> tuple[Checkpoint, bool]:
        """Fetch this cycle's new messages; also return whether more are waiting (start again at once)."""
        found = await mailbox.uid_search(*search_criteria(checkpoint))
        selection = select_new(checkpoint, found, self._max_messages_per_cycle)
        held = False
        if selection.uids:
            uidvalidity = checkpoint.uidvalidity
            listing = await mailbox.fetch_listing(selection.uids)
            sizes = {uid: listed.size for uid, listed in listing.items()}
            arrivals = {uid: listed.internal_date for uid, listed in listing.items()}
            tried = await self._records.fetch_attempts(uidvalidity, selection.uids)
            known = await self._records.known_uids(uidvalidity, selection.uids)
            limit = min(self._max_message_bytes, fetch_runs.MAX_BATCHED_BODY_BYTES)
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
                        mailbox, checkpoint, batch, sizes, arrivals, known, tried, held
                    )
            except BaseException as failure:
                await self._commits.finish(failure)
                raise
            await self._commits.finish()
        if held:
            return checkpoint, False  # a message must be read again: next cycle, after the wait
        finished = finish_scan(checkpoint, selection)
        if finished != checkpoint:
            await self._records.save_checkpoint(finished)
            self._log.info("initial scan finished", last_uid=finished.last_uid)
        return finished, selection.truncated

    async def _fetch_batch(
        self,
        mailbox: Mailbox,
        checkpoint: Checkpoint,
        batch: fetch_runs.Batch,
        sizes: dict[int, int],
        arrivals: dict[int, datetime | None],
        known: set[int],
        tried: dict[int, FetchAttempts],
        held: bool,
    ) -> tuple[Checkpoint, bool]:
        """Read one batch (its small bodies with one FETCH, the rest one by one), then hand its
        messages and the checkpoint past them to `_commit`. Returns the checkpoint and whether a UID
        must be read again (the checkpoint then stays below it for the rest of the cycle)."""
        bodies: dict[int, bytes | bytearray] = {}
        one_by_one = False
        if batch.together:
            try:
                bodies = await mailbox.fetch_bodies(batch.together, sum(sizes[uid] for uid in batch.together))
            except (ImapCommandError, ImapTimeout, ImapConnectError) as error:
                if error.stage != "fetch":
                    raise
                if isinstance(error, ImapTimeout | ImapConnectError):
                    # Count a try for each: next cycle each is fetched alone (tried before), so a
                    # message that ends the connection every time is soon rejected on its own.
                    for uid in batch.together:
                        await self._records.count_fetch_attempt(checkpoint.uidvalidity, uid, str(error))
                    raise
                one_by_one = True  # the server said NO to the batch: ask for each alone
        start = checkpoint
        new: list[NewMessage] = []
        for uid in batch.uids:
            if uid in known:
                read = _Read()  # in flight or done: never published again
            elif uid in batch.together and uid in bodies:
                read = _Read(NewMessage(uid, bodies[uid], summarize(bodies[uid])))
            elif uid in batch.together and not one_by_one:
                what = "its FETCH answer held no body"
                read = await self._unreadable(mailbox, checkpoint.uidvalidity, uid, sizes.get(uid), what)
            else:
                read = await self._fetch_one(mailbox, checkpoint.uidvalidity, uid, sizes.get(uid), tried.get(uid))
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

    async def _commit(self, messages: list[NewMessage], checkpoint: Checkpoint) -> None:
        """Store `messages` with `checkpoint` (one transaction), then publish them, in the background:
        the next batch's FETCH goes out meanwhile. Stores go one at a time, in order, so checkpoints
        only move forward; publishes overlap (commit_pipeline.py)."""

        # Taken out when stored, so a batch waiting for its confirms no longer holds the raw bodies:
        # only the batch being stored and the one waiting behind it do (as with one batch in flight).
        unstored = [messages]

        async def store() -> list[FetchedMessage]:
            batch = unstored.pop()
            if not batch:
                await self._records.save_checkpoint(checkpoint)
                return []
            return await self._records.store_messages(checkpoint.uidvalidity, batch, checkpoint)

        async def publish(stored: list[FetchedMessage]) -> None:
            if stored:
                await self._publisher.publish(stored)

        await self._commits.submit(store, publish)

    async def _fetch_one(
        self,
        mailbox: Mailbox,
        uidvalidity: int,
        uid: int,
        size: int | None,
        tried: FetchAttempts | None = None,
    ) -> _Read:
        """A UID not fetched with its batch: too large (header only), tried before, or without a size."""
        if tried is not None and tried.attempts >= MAX_READ_ATTEMPTS:
            # Each try ended the connection (a message the server cannot serve): do not try again.
            reason = f"unreadable: fetching it failed {tried.attempts} times (last: {tried.last_error})"
            self._log.warning("message unreadable, published as rejected; left in the mailbox", uid=uid)
            return _rejected(uid, b"", size or 0, reason)
        if size is None:
            return await self._unreadable(mailbox, uidvalidity, uid, size, "the server sent no size for it")
        limit = self._max_message_bytes
        try:
            if size > limit:
                raw = await mailbox.fetch_header(uid)
                rejected: str | None = f"too large: {size} bytes, the limit is {limit} bytes"
            else:
                raw = await mailbox.fetch_body(uid, size)
                rejected = None
        except (ImapCommandError, ImapTimeout, ImapConnectError) as error:
            if error.stage != "fetch":
                raise
            return await self._unreadable(mailbox, uidvalidity, uid, size, str(error), error)
        if raw is None:
            return await self._unreadable(mailbox, uidvalidity, uid, size, "its FETCH answer held no body")
        if rejected is not None:
            self._log.warning("message too large, only its header is stored; left in the mailbox", uid=uid, size=size)
            return _rejected(uid, raw, size, rejected)
        return _Read(NewMessage(uid, raw, summarize(raw)))

    async def _unreadable(
        self,
        mailbox: Mailbox,
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
            await self._records.count_fetch_attempt(uidvalidity, uid, what)
            raise error
        if not await mailbox.uid_exists(uid):
            self._log.info("message vanished before it was fetched", uid=uid)
            return _Read()
        attempts = await self._records.count_fetch_attempt(uidvalidity, uid, what)
        if attempts < MAX_READ_ATTEMPTS:
            self._log.warning(
                "message could not be read; trying again next cycle", uid=uid, attempts=attempts, error=what
            )
            return _Read(settled=False)
        header = await self._header_or_nothing(mailbox, uid)
        reason = f"unreadable: the server's answer to FETCH could not be read after {attempts} attempts ({what})"
        self._log.warning("message unreadable, published as rejected; left in the mailbox", uid=uid, error=what)
        return _rejected(uid, header, size if size is not None else len(header), reason)

    async def _header_or_nothing(self, mailbox: Mailbox, uid: int) -> bytes | bytearray:
        try:
            return await mailbox.fetch_header(uid) or b""
        except ImapCommandError:
            return b""
