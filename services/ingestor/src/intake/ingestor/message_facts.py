"""The `Facts` one message is decided on, built from the message and what was read under its locks.

Pure. The one-message path and the batch path build them here, so both decide on the same facts.
"""

from __future__ import annotations

from collections.abc import Mapping

from intake.ingestor.auto_generated import auto_generated
from intake.ingestor.decision import Facts
from intake.ingestor.matching import SubjectMatch, match_reply
from intake.ingestor.parsing import ParsedMessage


def facts_of(
    message: ParsedMessage,
    subject: SubjectMatch,
    subject_issue_exists: bool,
    on_issues: Mapping[str, int],
    thread_roots: Mapping[str, int],
) -> Facts:
    """The facts of `message`: `on_issues` and `thread_roots` are what `match_reply` takes, and
    `on_issues` holds the message's own Message-ID when it is already on an issue.

    >>> from intake.ingestor.matching import match_subject
    >>> from intake.ingestor.parsing import parse_message
    >>> message = parse_message(b"Message-ID: <b@x>\\r\\nIn-Reply-To: <a@x>\\r\\nSubject: hi\\r\\n\\r\\n.")
    >>> facts = facts_of(message, match_subject(message.subject), False, {"<a@x>": 7}, {})
    >>> facts.reply.number, facts.stored_on_issue
    (7, None)
    """
    return Facts(
        subject=subject,
        subject_issue_exists=subject_issue_exists,
        reply=None if subject_issue_exists else match_reply(message, on_issues, thread_roots),
        stored_on_issue=on_issues.get(message.message_id) if message.message_id is not None else None,
        message_id=message.message_id,
        sender=message.sender.address if message.sender else None,
        auto=auto_generated(message),
    )
