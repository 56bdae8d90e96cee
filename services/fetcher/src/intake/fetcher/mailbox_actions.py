"""Carrying out one inbox's pending mailbox actions over IMAP (mark read, delete with UID EXPUNGE) and
recording each as done, failed or abandoned (its UIDVALIDITY changed)."""

from __future__ import annotations

import asyncpg
from structlog.typing import FilteringBoundLogger

from intake.fetcher import outcome_records
from intake.fetcher.actions import DELETED, SEEN
from intake.shared.imap_client import ImapClient, SelectedFolder
from intake.shared.imap_errors import ImapCommandError
from intake.shared.inbox_vocabulary import ProcessedAction


class MailboxActions:
    """Applies one inbox's pending mailbox actions, at most `limit` per cycle."""

    def __init__(self, inbox_id: int, pool: asyncpg.Pool, limit: int, inbox_log: FilteringBoundLogger) -> None:
        self._inbox_id = inbox_id
        self._pool = pool
        self._limit = limit
        self._log = inbox_log

    async def apply_pending(self, client: ImapClient, folder: SelectedFolder) -> None:
        pending = await outcome_records.pending_actions(self._pool, self._inbox_id, self._limit)
        current = [item for item in pending if item.uidvalidity == folder.uidvalidity]
        for item in pending:
            if item.uidvalidity != folder.uidvalidity:
                # The UID names no message any more (RFC 3501 §2.3.1.1): acting could hit another one.
                await outcome_records.action_abandoned(self._pool, item.id, "UIDVALIDITY changed before the action")
                self._log.warning("mailbox action abandoned", **item.log_fields(), reason="uidvalidity changed")
        reads = [item for item in current if item.action is ProcessedAction.MARK_READ]
        if len(reads) > 1:
            # All \Seen flags with one UID STORE; if the server refuses it, each is tried alone below.
            try:
                await client.add_flags([item.uid for item in reads], SEEN)
            except ImapCommandError as error:
                self._log.info("marking several read at once failed; one by one", error=str(error))
            else:
                await outcome_records.action_done(self._pool, [item.id for item in reads])
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
                await outcome_records.action_failed(self._pool, item.id, str(error))
                self._log.warning("mailbox action failed", **item.log_fields(), action=item.action, error=str(error))
                continue
            await outcome_records.action_done(self._pool, [item.id])
            self._log.info("mailbox action done", **item.log_fields(), action=item.action)

    async def _apply(self, client: ImapClient, item: outcome_records.PendingAction) -> None:
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
