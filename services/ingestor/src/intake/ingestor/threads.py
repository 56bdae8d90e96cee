"""Which thread a message belongs to, and the advisory-lock key that serialises work on one thread.

Pure. Two ingestors handling two messages of one thread at once must not both create an issue
(DESIGN §2), so each takes a transaction-scoped PostgreSQL advisory lock on the thread's key first.
"""

from __future__ import annotations

import hashlib

from intake.ingestor.parsing import ParsedMessage


def thread_root(message: ParsedMessage) -> str | None:
    """The Message-ID that started the thread: the first of References, else In-Reply-To, else its own.

    RFC 5322 §3.6.4: References lists the thread's ancestors oldest first, so its first entry is the
    root; a reply from a client that writes only In-Reply-To names its parent.
    """
    if message.references:
        return message.references[0]
    return message.in_reply_to or message.message_id


def _key(text: str) -> int:
    # pg_advisory_xact_lock takes a signed 64-bit key.
    return int.from_bytes(hashlib.sha256(text.encode("utf-8")).digest()[:8], "big", signed=True)


def issue_lock_key(issue_number: int) -> int:
    """The lock key of an existing issue (messages appended to it by number)."""
    return _key(f"issue:{issue_number}")


def message_lock_key(inbox_id: int, message_id: str) -> int:
    """The lock key of one Message-ID in one inbox, so two copies of a message are never stored twice."""
    return _key(f"message:{inbox_id}:{message_id}")


def thread_lock_key(inbox_id: int, root: str | None, raw_sha256: str) -> int:
    """The lock key of a thread in one inbox; a message with no Message-IDs at all is a thread of its own."""
    return _key(f"thread:{inbox_id}:{root}" if root else f"raw:{inbox_id}:{raw_sha256}")
