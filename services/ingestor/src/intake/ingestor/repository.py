"""The ingestor's SQL: issues, messages, attachments, threads and outcomes in schema `tracker`.

Writes only `tracker` (and attachment bytes through the shared blob store); reads inbox settings
only through the view `config.inbox_settings`. Each function takes the caller's connection, so one
message is stored in one transaction; `postgres_store.py` offers them as the `IssueStore` port's
sessions. No decisions here: `decision.py` makes them. The rows it shares with a batch's statements
(`batch_repository.py`) are `tracker_rows.py`'s.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from intake.ingestor.decision import InboxRules
from intake.ingestor.issue_store import InboxPolicy, UnderLock
from intake.ingestor.parsing import ParsedMessage
from intake.ingestor.tracker_rows import (
    MESSAGE_COLUMNS,
    add_attachments_many,
    issue_title_of,
    message_values,
    processed_of,
)
from intake.shared import blobs
from intake.shared.contracts import MessageProcessed, MessageRef, Outcome
from intake.shared.database import Executor, Session
from intake.shared.inbox_vocabulary import UnmatchedAction


async def inbox_settings(conn: Executor, inbox_id: int) -> InboxPolicy | None:
    """The inbox's settings from `config.inbox_settings`, or None when the inbox no longer exists."""
    row = await conn.fetchrow(
        """SELECT unmatched_action, ignored_senders, issue_type_id, default_language, assigned_user_id,
                  assigned_organisation_id
           FROM config.inbox_settings WHERE id = $1""",
        inbox_id,
    )
    if row is None:
        return None
    return InboxPolicy(
        rules=InboxRules(
            unmatched_action=UnmatchedAction(row["unmatched_action"]),
            ignored_senders=tuple(row["ignored_senders"] or ()),
        ),
        issue_type_id=row["issue_type_id"],
        default_language=row["default_language"],
        assigned_user_id=row["assigned_user_id"],
        assigned_organisation_id=row["assigned_organisation_id"],
    )


async def lock(conn: Session, *keys: int) -> None:
    """Hold the advisory locks `keys` (a thread, a Message-ID, an issue) until the transaction ends.

    One statement for all of them (one round trip); PostgreSQL evaluates a select list left to
    right, so they are taken in the order given, which is what keeps lockers free of deadlocks."""
    if keys:
        columns = ", ".join(f"pg_advisory_xact_lock(${index})" for index in range(1, len(keys) + 1))
        await conn.execute(f"SELECT {columns}", *keys)


async def stored_outcome(conn: Executor, ref: MessageRef) -> MessageProcessed | None:
    """The outcome already recorded for (inbox, UIDVALIDITY, UID), or None."""
    row = await conn.fetchrow(
        "SELECT * FROM tracker.outcomes WHERE inbox_id = $1 AND uidvalidity = $2 AND uid = $3",
        ref.inbox_id,
        ref.uidvalidity,
        ref.uid,
    )
    return None if row is None else processed_of(row)


_STORED_OUTCOME_OR_RAW = f"""SELECT o.*, b.content AS raw FROM (SELECT 1) AS one
    LEFT JOIN tracker.outcomes o ON o.inbox_id = $1 AND o.uidvalidity = $2 AND o.uid = $3
    {blobs.content_join("$4", "b")}"""


async def stored_outcome_or_raw(
    conn: Executor, ref: MessageRef, raw_sha256: str
) -> tuple[MessageProcessed | None, bytes | None]:
    """The outcome already recorded for (inbox, UIDVALIDITY, UID), and the raw bytes: one round trip
    for what every message needs first (the bytes are read on a repeat too; repeats are rare)."""
    row = await conn.fetchrow(
        _STORED_OUTCOME_OR_RAW,
        ref.inbox_id,
        ref.uidvalidity,
        ref.uid,
        raw_sha256,
    )
    assert row is not None
    return (None if row["outcome"] is None else processed_of(row)), row["raw"]


async def read_under_lock(conn: Executor, ref: MessageRef, candidates: Sequence[str]) -> UnderLock:
    """The outcome stored for (inbox, UIDVALIDITY, UID), and which of `candidates` (Message-IDs) are on
    an issue or root a thread tied to one: one round trip."""
    row = await conn.fetchrow(
        """SELECT o.*,
                  (SELECT json_object_agg(m.message_id, m.issue_number) FROM tracker.messages m
                   WHERE m.inbox_id = $1 AND m.message_id = ANY($4::text[])) AS on_issues,
                  (SELECT json_object_agg(t.root_message_id, t.issue_number) FROM tracker.threads t
                   WHERE t.inbox_id = $1 AND t.root_message_id = ANY($4::text[])) AS thread_roots
           FROM (SELECT 1) AS one
           LEFT JOIN tracker.outcomes o ON o.inbox_id = $1 AND o.uidvalidity = $2 AND o.uid = $3""",
        ref.inbox_id,
        ref.uidvalidity,
        ref.uid,
        list(candidates),
    )
    assert row is not None
    return UnderLock(
        stored=None if row["outcome"] is None else processed_of(row),
        on_issues=json.loads(row["on_issues"]) if row["on_issues"] else {},
        thread_roots=json.loads(row["thread_roots"]) if row["thread_roots"] else {},
    )


_RECORD_OUTCOME = """INSERT INTO tracker.outcomes
        (inbox_id, uidvalidity, uid, raw_sha256, message_id, outcome, reason, issue_number, attempts, processed_at)
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
    ON CONFLICT (inbox_id, uidvalidity, uid) """
_KEEP = "DO NOTHING RETURNING *"
# A replay replaces a stored skip, rejection or duplicate, never an outcome that put the message on an
# issue: the rule `results.decides_again` states with `Outcome.stored_on_issue`, whose outcomes these are.
_ON_ISSUE = ", ".join(f"'{outcome.value}'" for outcome in Outcome if outcome.stored_on_issue)
_REPLACE_SKIP = f"""DO UPDATE SET raw_sha256 = EXCLUDED.raw_sha256, message_id = EXCLUDED.message_id,
        outcome = EXCLUDED.outcome, reason = EXCLUDED.reason, issue_number = EXCLUDED.issue_number,
        attempts = EXCLUDED.attempts, processed_at = EXCLUDED.processed_at
    WHERE tracker.outcomes.outcome NOT IN ({_ON_ISSUE})
    RETURNING *"""


# Tie a thread root to the outcome's issue in the same statement (one round trip less): the first
# issue a thread was tied to keeps it.
_REMEMBER_THREAD = """WITH thread AS (
        INSERT INTO tracker.threads (inbox_id, root_message_id, issue_number) VALUES ($1, $11, $8)
        ON CONFLICT (inbox_id, root_message_id) DO NOTHING)
    """


async def record_outcome(
    conn: Executor, processed: MessageProcessed, *, replace_skip: bool = False, thread_root: str | None = None
) -> MessageProcessed:
    """Record `processed` unless an outcome is already there; return the one that is recorded.

    With `replace_skip` (a replay), a stored outcome that did not put the message on an issue is replaced.
    With `thread_root`, the thread is tied to `processed.issue_number` too.
    """
    remember = thread_root is not None and processed.issue_number is not None
    row = await conn.fetchrow(
        (_REMEMBER_THREAD if remember else "") + _RECORD_OUTCOME + (_REPLACE_SKIP if replace_skip else _KEEP),
        processed.inbox_id,
        processed.uidvalidity,
        processed.uid,
        processed.raw_sha256,
        processed.message_id,
        processed.outcome.value,
        processed.reason,
        processed.issue_number,
        processed.attempts,
        processed.processed_at,
        *((thread_root,) if remember else ()),
    )
    if row is not None:
        return processed_of(row)
    stored = await stored_outcome(conn, processed)
    assert stored is not None
    return stored


async def issue_exists(conn: Executor, number: int) -> bool:
    return bool(await conn.fetchval("SELECT EXISTS (SELECT 1 FROM tracker.issues WHERE number = $1)", number))


async def issue_title(conn: Executor, number: int) -> str | None:
    title: str | None = await conn.fetchval("SELECT title FROM tracker.issues WHERE number = $1", number)
    return title


async def create_issue_with_message(
    conn: Session, ref: MessageRef, raw_sha256: str, message: ParsedMessage, inbox: InboxPolicy
) -> tuple[int, str]:
    """A new open issue titled by the message's subject, requested by its sender, with the inbox's
    defaults (issue type, language, assignee, organisation), holding the message and its attachments;
    its number and title. The issue and the message are one statement (one round trip)."""
    title = issue_title_of(message)
    row = await conn.fetchrow(
        f"""WITH issue AS (
               INSERT INTO tracker.issues
                   (title, issue_type_id, language, assigned_user_id, assigned_organisation_id,
                    requester_email, requester_name, inbox_id)
               VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
               RETURNING number)
           INSERT INTO tracker.messages {MESSAGE_COLUMNS}
           SELECT issue.number, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21 FROM issue
           RETURNING id, issue_number""",
        title,
        inbox.issue_type_id,
        inbox.default_language,
        inbox.assigned_user_id,
        inbox.assigned_organisation_id,
        message.sender.address if message.sender else None,
        (message.sender.name or None) if message.sender else None,
        ref.inbox_id,
        *message_values(ref, raw_sha256, message),
    )
    assert row is not None
    await _add_attachments(conn, row["id"], message)
    return row["issue_number"], title


async def touch_issue(conn: Executor, number: int) -> str:
    """Mark the issue updated; its title."""
    title: str = await conn.fetchval(
        "UPDATE tracker.issues SET updated_at = now() WHERE number = $1 RETURNING title", number
    )
    return title


async def add_message(
    conn: Session, issue_number: int, ref: MessageRef, raw_sha256: str, message: ParsedMessage
) -> int:
    """Store the message on the issue with its attachments (bytes in the blob store); return its row id."""
    row_id: int = await conn.fetchval(
        f"""INSERT INTO tracker.messages {MESSAGE_COLUMNS}
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)
            RETURNING id""",
        issue_number,
        *message_values(ref, raw_sha256, message),
    )
    await _add_attachments(conn, row_id, message)
    return row_id


async def _add_attachments(conn: Session, message_row_id: int, message: ParsedMessage) -> None:
    await add_attachments_many(conn, [(message_row_id, message)])
