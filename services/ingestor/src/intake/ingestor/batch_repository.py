"""The ingestor's SQL for a batch of messages: `repository.py`'s reads and writes, one statement for all.

Each function takes the caller's connection, so a batch is stored in one transaction; the messages'
columns, their values and the outcome rows are `tracker_rows.py`'s, as `repository.py`'s are.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from intake.ingestor.issue_store import BatchUnderLock, InboxPolicy
from intake.ingestor.parsing import ParsedMessage
from intake.ingestor.tracker_rows import MESSAGE_COLUMNS, issue_title_of, message_values, processed_of
from intake.shared import blobs
from intake.shared.contracts import MessageProcessed, MessageRef
from intake.shared.database import Executor


def _ref_arrays(refs: Sequence[MessageRef]) -> tuple[list[int], list[int], list[int]]:
    return [ref.inbox_id for ref in refs], [ref.uidvalidity for ref in refs], [ref.uid for ref in refs]


_STORED_OR_RAW_MANY = f"""SELECT r.ord, o.uid IS NOT NULL AS stored, CASE WHEN o.uid IS NULL THEN b.content END AS raw
    FROM unnest($1::bigint[], $2::bigint[], $3::bigint[], $4::text[]) WITH ORDINALITY AS r(i, v, u, sha, ord)
    LEFT JOIN tracker.outcomes o ON o.inbox_id = r.i AND o.uidvalidity = r.v AND o.uid = r.u
    {blobs.content_join("r.sha", "b")}
    ORDER BY r.ord"""


async def stored_or_raw_many(
    conn: Executor, refs: Sequence[MessageRef], raw_sha256s: Sequence[str | None]
) -> list[tuple[bool, bytes | None]]:
    """For each message, in order: whether an outcome is already recorded, and its raw bytes (None once
    an outcome is recorded, as the one-message path re-emits it, and None where the key given is None)."""
    rows = await conn.fetch(
        _STORED_OR_RAW_MANY,
        *_ref_arrays(refs),
        list(raw_sha256s),
    )
    return [(row["stored"], row["raw"]) for row in rows]


async def existing_issues(conn: Executor, numbers: Sequence[int]) -> set[int]:
    rows = await conn.fetch("SELECT number FROM tracker.issues WHERE number = ANY($1::bigint[])", list(numbers))
    return {row["number"] for row in rows}


async def read_under_lock_many(
    conn: Executor, refs: Sequence[MessageRef], candidates: Sequence[tuple[int, str]]
) -> BatchUnderLock:
    """`read_under_lock` for a whole batch: one round trip."""
    row = await conn.fetchrow(
        """SELECT
             (SELECT json_agg(json_build_array(o.inbox_id, o.uidvalidity, o.uid)) FROM tracker.outcomes o
              JOIN unnest($1::bigint[], $2::bigint[], $3::bigint[]) AS r(i, v, u)
                ON o.inbox_id = r.i AND o.uidvalidity = r.v AND o.uid = r.u) AS stored,
             (SELECT json_agg(json_build_array(m.inbox_id, m.message_id, m.issue_number)) FROM tracker.messages m
              JOIN unnest($4::bigint[], $5::text[]) AS c(i, id) ON m.inbox_id = c.i AND m.message_id = c.id)
               AS on_issues,
             (SELECT json_agg(json_build_array(t.inbox_id, t.root_message_id, t.issue_number)) FROM tracker.threads t
              JOIN unnest($4::bigint[], $5::text[]) AS c(i, id) ON t.inbox_id = c.i AND t.root_message_id = c.id)
               AS thread_roots""",
        *_ref_arrays(refs),
        [inbox_id for inbox_id, _ in candidates],
        [message_id for _, message_id in candidates],
    )
    assert row is not None
    stored = json.loads(row["stored"]) if row["stored"] else []
    on_issues = json.loads(row["on_issues"]) if row["on_issues"] else []
    thread_roots = json.loads(row["thread_roots"]) if row["thread_roots"] else []
    return BatchUnderLock(
        stored={(i, v, u) for i, v, u in stored},
        on_issues={(i, message_id): number for i, message_id, number in on_issues},
        thread_roots={(i, root): number for i, root, number in thread_roots},
    )


def _message_arrays(
    refs: Sequence[MessageRef], raw_sha256s: Sequence[str], messages: Sequence[ParsedMessage]
) -> list[Any]:
    """`MESSAGE_COLUMNS` after issue_number, one array per column (address lists as JSON arrays)."""
    rows = [message_values(ref, sha, message) for ref, sha, message in zip(refs, raw_sha256s, messages, strict=True)]
    columns: list[Any] = [list(column) for column in zip(*rows, strict=True)]
    columns[6] = [json.dumps(value) for value in columns[6]]
    columns[7] = [json.dumps(value) for value in columns[7]]
    return columns


_MESSAGE_TYPES = (
    "bigint",
    "bigint",
    "bigint",
    "text",
    "text",
    "text",
    "text",
    "text",
    "text",
    "timestamptz",
    "text",
    "text",
    "text",
)


def _message_parameters(first: int) -> str:
    """The typed parameters $first.. of `_message_arrays`, for an unnest."""
    return ", ".join(f"${first + index}::{kind}[]" for index, kind in enumerate(_MESSAGE_TYPES))


_MESSAGE_SELECT = """m_inbox_id, m_uidvalidity, m_uid, m_message_id, m_from_address, m_from_name,
    ARRAY(SELECT json_array_elements_text(m_to::json)), ARRAY(SELECT json_array_elements_text(m_cc::json)),
    m_subject, m_sent_at, m_body_text, m_body_html, m_raw_sha256"""
_MESSAGE_ALIASES = """m_inbox_id, m_uidvalidity, m_uid, m_message_id, m_from_address, m_from_name, m_to, m_cc,
    m_subject, m_sent_at, m_body_text, m_body_html, m_raw_sha256"""


async def create_issues_with_messages(
    conn: Executor,
    refs: Sequence[MessageRef],
    raw_sha256s: Sequence[str],
    messages: Sequence[ParsedMessage],
    inboxes: Sequence[InboxPolicy],
) -> list[tuple[int, str, int]]:
    """`create_issue_with_message` without the attachments (`add_attachments_many`) for many messages,
    one statement; each new issue's number and title and its message's row id, in the order given
    (numbered in that order)."""
    titles = [issue_title_of(message) for message in messages]
    rows = await conn.fetch(
        f"""WITH d AS MATERIALIZED (
               SELECT nextval(pg_get_serial_sequence('tracker.issues', 'number')) AS number, d.*
               FROM (SELECT * FROM unnest($1::text[], $2::bigint[], $3::text[], $4::bigint[], $5::bigint[],
                                          $6::text[], $7::text[], {_message_parameters(8)})
                          WITH ORDINALITY AS i(title, issue_type_id, language, assigned_user_id,
                                               assigned_organisation_id, requester_email, requester_name,
                                               {_MESSAGE_ALIASES}, ord)
                     ORDER BY ord) AS d),
           issues AS (
               INSERT INTO tracker.issues
                   (number, title, issue_type_id, language, assigned_user_id, assigned_organisation_id,
                    requester_email, requester_name, inbox_id)
               OVERRIDING SYSTEM VALUE
               SELECT number, title, issue_type_id, language, assigned_user_id, assigned_organisation_id,
                      requester_email, requester_name, m_inbox_id FROM d),
           messages AS (
               INSERT INTO tracker.messages {MESSAGE_COLUMNS}
               SELECT number, {_MESSAGE_SELECT} FROM d
               RETURNING id, issue_number)
           SELECT d.ord, d.number, messages.id FROM d JOIN messages ON messages.issue_number = d.number
           ORDER BY d.ord""",
        titles,
        [inbox.issue_type_id for inbox in inboxes],
        [inbox.default_language for inbox in inboxes],
        [inbox.assigned_user_id for inbox in inboxes],
        [inbox.assigned_organisation_id for inbox in inboxes],
        [message.sender.address if message.sender else None for message in messages],
        [(message.sender.name or None) if message.sender else None for message in messages],
        *_message_arrays(refs, raw_sha256s, messages),
    )
    return [(row["number"], title, row["id"]) for row, title in zip(rows, titles, strict=True)]


async def append_messages(
    conn: Executor,
    numbers: Sequence[int],
    refs: Sequence[MessageRef],
    raw_sha256s: Sequence[str],
    messages: Sequence[ParsedMessage],
) -> tuple[dict[int, str], list[int]]:
    """`touch_issue` + `add_message` without the attachments (`add_attachments_many`) for many messages,
    one statement; each touched issue's title, and the messages' row ids in the order given."""
    row = await conn.fetchrow(
        f"""WITH d AS MATERIALIZED (
               SELECT * FROM unnest($1::bigint[], {_message_parameters(2)}) WITH ORDINALITY
                   AS d(number, {_MESSAGE_ALIASES}, ord)),
           messages AS (
               INSERT INTO tracker.messages {MESSAGE_COLUMNS}
               SELECT number, {_MESSAGE_SELECT} FROM d ORDER BY ord
               RETURNING id, inbox_id, uidvalidity, uid),
           touched AS (
               UPDATE tracker.issues SET updated_at = now()
               WHERE number IN (SELECT number FROM d) RETURNING number, title)
           SELECT (SELECT json_agg(json_build_array(number, title)) FROM touched) AS titles,
                  (SELECT json_agg(m.id ORDER BY d.ord) FROM messages m
                   JOIN d ON (m.inbox_id, m.uidvalidity, m.uid) = (d.m_inbox_id, d.m_uidvalidity, d.m_uid)) AS ids""",
        list(numbers),
        *_message_arrays(refs, raw_sha256s, messages),
    )
    assert row is not None
    titles = {number: title for number, title in json.loads(row["titles"])}
    return titles, json.loads(row["ids"])


async def record_outcomes(
    conn: Executor, outcomes: Sequence[tuple[MessageProcessed, str | None]]
) -> dict[tuple[int, int, int], MessageProcessed]:
    """`record_outcome` (keeping a stored one) for many messages, each with the thread root to tie to its
    issue or None; one statement. Returns the outcomes it recorded, by (inbox, UIDVALIDITY, UID): one
    missing was recorded by someone else first."""
    processed = [outcome for outcome, _ in outcomes]
    rows = await conn.fetch(
        """WITH d AS MATERIALIZED (
               SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::bigint[], $4::text[], $5::text[], $6::text[],
                                    $7::text[], $8::bigint[], $9::integer[], $10::timestamptz[], $11::text[])
                   AS d(inbox_id, uidvalidity, uid, raw_sha256, message_id, outcome, reason, issue_number,
                        attempts, processed_at, thread_root)),
           thread AS (
               INSERT INTO tracker.threads (inbox_id, root_message_id, issue_number)
               SELECT inbox_id, thread_root, issue_number FROM d
               WHERE thread_root IS NOT NULL AND issue_number IS NOT NULL
               ON CONFLICT (inbox_id, root_message_id) DO NOTHING)
           INSERT INTO tracker.outcomes
               (inbox_id, uidvalidity, uid, raw_sha256, message_id, outcome, reason, issue_number, attempts,
                processed_at)
           SELECT inbox_id, uidvalidity, uid, raw_sha256, message_id, outcome, reason, issue_number, attempts,
                  processed_at FROM d
           ON CONFLICT (inbox_id, uidvalidity, uid) DO NOTHING
           RETURNING *""",
        *_ref_arrays(processed),
        [p.raw_sha256 for p in processed],
        [p.message_id for p in processed],
        [p.outcome.value for p in processed],
        [p.reason for p in processed],
        [p.issue_number for p in processed],
        [p.attempts for p in processed],
        [p.processed_at for p in processed],
        [root for _, root in outcomes],
    )
    recorded = (processed_of(row) for row in rows)
    return {(p.inbox_id, p.uidvalidity, p.uid): p for p in recorded}
