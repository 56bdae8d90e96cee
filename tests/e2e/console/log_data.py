"""Email log rows, stored raw messages, the fetcher's mailbox records and issues, written straight into a
console test's database (config-api as a real process reads them), for the email log and issue pages."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import TypeVar

import asyncpg

from intake.config_api.email_log_recording import record_fetched, record_processed
from intake.shared.blobs import put_blob
from intake.shared.contracts import MessageFetched, MessageProcessed, Outcome
from intake.shared.migrations import migrate, migrate_blobs
from tests.support.blocking import run_blocking

T = TypeVar("T")
START = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


def raw_message(subject: str, sender: str = "ann@customer.example", body: str = "The printer is on fire.") -> bytes:
    return (
        f"From: Ann Customer <{sender}>\r\nTo: support@intake.example\r\nSubject: {subject}\r\n"
        f"Message-ID: <{abs(hash(subject))}@customer.example>\r\nDate: Tue, 01 Dec 2026 09:00:00 +0000\r\n\r\n"
        f"{body}\r\n"
    ).encode()


class LogData:
    """Writes into the test database at `database_url`; every method is synchronous for Playwright tests."""

    def __init__(self, database_url: str) -> None:
        self.database_url = database_url

    def _run(self, work: Callable[[asyncpg.Connection], Awaitable[T]]) -> T:
        async def go() -> T:
            conn = await asyncpg.connect(self.database_url)
            try:
                return await work(conn)
            finally:
                await conn.close()

        return run_blocking(go())

    def fetch(self, statement: str, *args: object) -> list[asyncpg.Record]:
        return self._run(lambda conn: conn.fetch(statement, *args))

    def value(self, statement: str, *args: object) -> object:
        return self._run(lambda conn: conn.fetchval(statement, *args))

    def add(
        self,
        uid: int,
        subject: str,
        outcome: Outcome | None,
        *,
        inbox_id: int = 1,
        sender: str = "ann@customer.example",
        raw: bytes | None = None,
        reason: str | None = None,
        issue_number: int | None = None,
        at: datetime | None = None,
    ) -> int:
        """A logged message (its raw bytes stored), with `outcome` (None: pending); returns the row id."""
        content = raw if raw is not None else raw_message(subject, sender)
        fetched_at = at or START + timedelta(minutes=uid)

        async def work(conn: asyncpg.Connection) -> int:
            await migrate_blobs(conn)
            sha = await put_blob(conn, content)
            await record_fetched(
                conn,
                MessageFetched(
                    inbox_id=inbox_id,
                    uidvalidity=7,
                    uid=uid,
                    raw_sha256=sha,
                    size=len(content),
                    message_id=f"<{uid}@customer.example>",
                    sender=sender,
                    subject=subject,
                    fetched_at=fetched_at,
                ),
            )
            if outcome is not None:
                await record_processed(
                    conn,
                    MessageProcessed(
                        inbox_id=inbox_id,
                        uidvalidity=7,
                        uid=uid,
                        raw_sha256=sha,
                        outcome=outcome,
                        reason=reason or f"the reason for {outcome.value}",
                        issue_number=issue_number,
                        attempts=1,
                        processed_at=fetched_at + timedelta(seconds=2),
                    ),
                )
            row_id: int = await conn.fetchval(
                "SELECT id FROM config.email_log WHERE inbox_id = $1 AND uid = $2", inbox_id, uid
            )
            return row_id

        return self._run(work)

    def mailbox_action_done(self, uid: int, action: str, done_at: datetime, inbox_id: int = 1) -> None:
        """The fetcher's record that the mailbox action for the message is done (its schema migrated first)."""

        async def work(conn: asyncpg.Connection) -> None:
            await migrate(conn, "intake.fetcher", "fetcher")
            await conn.execute(
                """INSERT INTO fetcher.messages (inbox_id, uidvalidity, uid, state, raw_sha256, size, outcome,
                                                 action, action_state, action_done_at)
                   VALUES ($1, 7, $2, 'processed', $3, 1, 'issue_created', $4, 'done', $5)""",
                inbox_id,
                uid,
                "d" * 64,
                action,
                done_at,
            )

        self._run(work)

    def tracker_ready(self) -> None:
        """The ingestor's issue tables and views, as its own start would make them."""

        async def work(conn: asyncpg.Connection) -> None:
            await migrate_blobs(conn)
            await migrate(conn, "intake.ingestor", "tracker")

        self._run(work)

    def issue(
        self,
        title: str,
        requester: str,
        messages: list[tuple[int, str, str, list[tuple[str, str, bytes]]]],
        html_bodies: dict[int, str] | None = None,
    ) -> tuple[int, list[int]]:
        """An issue with messages (uid, subject, body, attachments as (filename, content type, bytes)) and HTML
        bodies by uid, stored through the ingestor's own schema; returns its number and the attachment ids."""

        async def work(conn: asyncpg.Connection) -> tuple[int, list[int]]:
            await migrate_blobs(conn)
            await migrate(conn, "intake.ingestor", "tracker")
            number: int = await conn.fetchval(
                """INSERT INTO tracker.issues (title, requester_email, requester_name, inbox_id, issue_type_id,
                                               language)
                   VALUES ($1, $2, 'Ann Customer', 1, 1, 'en') RETURNING number""",
                title,
                requester,
            )
            attachment_ids: list[int] = []
            for uid, subject, body, attachments in messages:
                message_row: int = await conn.fetchval(
                    """INSERT INTO tracker.messages (issue_number, inbox_id, uidvalidity, uid, message_id,
                           from_address, from_name, to_addresses, cc_addresses, subject, sent_at, body_text,
                           raw_sha256, body_html)
                       VALUES ($1, 1, 7, $2, $3, $4, 'Ann Customer', '{support@intake.example}',
                               '{boss@customer.example}', $5, $6, $7, $8, $9) RETURNING id""",
                    number,
                    uid,
                    f"<{uid}@customer.example>",
                    requester,
                    subject,
                    START + timedelta(minutes=uid),
                    body,
                    "e" * 64,
                    (html_bodies or {}).get(uid),
                )
                for filename, content_type, content in attachments:
                    sha = await put_blob(conn, content)
                    attachment_ids.append(
                        await conn.fetchval(
                            """INSERT INTO tracker.attachments (message_row_id, filename, content_type, size, sha256)
                               VALUES ($1, $2, $3, $4, $5) RETURNING id""",
                            message_row,
                            filename,
                            content_type,
                            len(content),
                            sha,
                        )
                    )
            return number, attachment_ids

        return self._run(work)
