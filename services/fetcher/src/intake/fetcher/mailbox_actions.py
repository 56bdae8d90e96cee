"""Carrying out one inbox's pending mailbox actions over IMAP (mark read, delete with UID EXPUNGE) and
recording each as done, failed or abandoned (its UIDVALIDITY changed), through the `Mailbox` and
`InboxRecords` ports."""

from __future__ import annotations

from structlog.typing import FilteringBoundLogger

from intake.fetcher.actions import DELETED, SEEN
from intake.fetcher.inbox_records import InboxRecords
from intake.fetcher.mailbox import Mailbox
from intake.fetcher.outcome_records import PendingAction
from intake.shared.imap_client import SelectedFolder
from intake.shared.imap_errors import ImapCommandError
from intake.shared.inbox_vocabulary import ProcessedAction


class MailboxActions:
    """Applies one inbox's pending mailbox actions, at most `limit` per cycle."""

    def __init__(self, records: InboxRecords, limit: int, inbox_log: FilteringBoundLogger) -> None:
        self._records = records
        self._limit = limit
        self._log = inbox_log

    async def apply_pending(self, mailbox: Mailbox, folder: SelectedFolder) -> None:
        pending = await self._records.pending_actions(self._limit)
        current = [item for item in pending if item.uidvalidity == folder.uidvalidity]
        for item in pending:
            if item.uidvalidity != folder.uidvalidity:
                # The UID names no message any more (RFC 3501 §2.3.1.1): acting could hit another one.
                await self._records.action_abandoned(item.id, "UIDVALIDITY changed before the action")
                self._log.warning("mailbox action abandoned", **item.log_fields(), reason="uidvalidity changed")
        reads = [item for item in current if item.action is ProcessedAction.MARK_READ]
        if len(reads) > 1:
            # All \Seen flags with one UID STORE; if the server refuses it, each is tried alone below.
            try:
                await mailbox.add_flags([item.uid for item in reads], SEEN)
            except ImapCommandError as error:
                self._log.info("marking several read at once failed; one by one", error=str(error))
            else:
                await self._records.action_done([item.id for item in reads])
                self._log.info(
                    "mailbox actions done",
                    messages=[item.log_fields() for item in reads],
                    action=ProcessedAction.MARK_READ,
                )
                current = [item for item in current if item.action is not ProcessedAction.MARK_READ]
        for item in current:
            try:
                await self._apply(mailbox, item)
            except ImapCommandError as error:
                await self._records.action_failed(item.id, str(error))
                self._log.warning("mailbox action failed", **item.log_fields(), action=item.action, error=str(error))
                continue
            await self._records.action_done([item.id])
            self._log.info("mailbox action done", **item.log_fields(), action=item.action)

    async def _apply(self, mailbox: Mailbox, item: PendingAction) -> None:
        if item.action is ProcessedAction.MARK_READ:
            await mailbox.add_flags(item.uid, SEEN)
            return
        await mailbox.add_flags(item.uid, DELETED)
        if mailbox.supports_uid_expunge:
            await mailbox.uid_expunge(item.uid)
        else:
            # Without UIDPLUS only a plain EXPUNGE exists, and it would also remove every message
            # someone else flagged \Deleted: never send it. The message stays flagged \Deleted until
            # the user's own client expunges the folder.
            self._log.warning("server lacks UIDPLUS; message left flagged \\Deleted", **item.log_fields())
