"""Finding the issue a message names: the issue tag in its subject, then the messages it replies to.

Pure: no I/O. The subject tag is a deployment setting (`INTAKE_SUBJECT_TAG_PATTERN`, a regular
expression with a named group `number`); whether its number names an existing issue, and which
issues hold the Message-IDs a reply names, is for the caller to find out. A number that does not
exist is no match (DESIGN §1).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from intake.ingestor.parsing import ParsedMessage

# `[#42]`, `[Issue #42]`, `[ACME#42]`: an opening bracket, at most one word (no spaces, brackets or
# `#`), `#`, the digits, and the closing bracket right after them.
DEFAULT_TAG_PATTERN = r"\[(?:[^\s\[\]#]+\s*)?#(?P<number>[0-9]+)\]"
# Issue numbers are PostgreSQL bigints; a larger number cannot name one.
MAX_ISSUE_NUMBER = 2**63 - 1
# A reply names at most this many ancestors that are looked up (nearest first); References can be
# long, and a hostile one must not make one message cost thousands of lookups.
MAX_REPLY_CANDIDATES = 100


def compile_tag_pattern(pattern: str) -> re.Pattern[str]:
    """The compiled subject-tag pattern; ValueError when it is not a regular expression with a `number` group.

    >>> compile_tag_pattern(r"\\[(?P<number>\\d+)\\]").pattern
    '\\\\[(?P<number>\\\\d+)\\\\]'
    >>> compile_tag_pattern(r"\\[#(\\d+)\\]")
    Traceback (most recent call last):
    ...
    ValueError: the pattern has no named group `number`, as in (?P<number>[0-9]+)
    """
    try:
        compiled = re.compile(pattern)
    except re.error as error:
        raise ValueError(f"not a regular expression: {error}") from None
    if "number" not in compiled.groupindex:
        raise ValueError("the pattern has no named group `number`, as in (?P<number>[0-9]+)")
    return compiled


DEFAULT_TAG = compile_tag_pattern(DEFAULT_TAG_PATTERN)


@dataclass(frozen=True)
class SubjectMatch:
    """The issue number a subject names (None when it names none), the tag found, and why."""

    number: int | None
    reason: str
    tag: str | None = None


def _issue_number(text: str | None) -> int | None:
    if not text or not (text.isascii() and text.isdigit()):
        return None
    number = int(text)
    return number if 1 <= number <= MAX_ISSUE_NUMBER else None


def match_subject(subject: str, pattern: re.Pattern[str] = DEFAULT_TAG) -> SubjectMatch:
    """The issue number in the first tag of `subject` that `pattern` finds with a valid number.

    >>> match_subject("[#42] Printer on fire").number
    42
    >>> match_subject("Re: Printer [ACME #42]")
    SubjectMatch(number=42, reason='subject tag [ACME #42] names issue #42', tag='[ACME #42]')
    >>> match_subject("Re: [Issue #7] and [Issue #8]").number
    7
    >>> match_subject("Invoice #42")
    SubjectMatch(number=None, reason='subject has no issue tag like [#42]', tag=None)
    >>> match_subject("[#0] zero").reason
    'subject tag [#0] names no valid issue number'
    """
    for found in pattern.finditer(subject):
        number = _issue_number(found["number"])
        if number is not None:
            tag = found.group(0)
            return SubjectMatch(number, f"subject tag {tag} names issue #{number}", tag)
    first = pattern.search(subject)
    if first is not None:
        return SubjectMatch(None, f"subject tag {first.group(0)} names no valid issue number", first.group(0))
    return SubjectMatch(None, "subject has no issue tag like [#42]")


@dataclass(frozen=True)
class ReplyMatch:
    """The issue a reply joins through the Message-IDs it names, and why."""

    number: int
    reason: str


def reply_candidates(message: ParsedMessage) -> tuple[str, ...]:
    """The Message-IDs to look up for `message`, nearest first: In-Reply-To, References from the last
    (the parent) to the first (the thread's root), then its own Message-ID (a reply may have been
    filed before the message it answers: `tracker.threads` then holds this message's ID as a root).

    >>> from dataclasses import replace
    >>> from intake.ingestor.parsing import parse_message
    >>> base = parse_message(b"Message-ID: <c@x>\\r\\nIn-Reply-To: <b@x>\\r\\nReferences: <a@x> <b@x>\\r\\n\\r\\n.")
    >>> reply_candidates(base)
    ('<b@x>', '<a@x>', '<c@x>')
    """
    ordered = [message.in_reply_to, *reversed(message.references)]
    ancestors = [found for found in dict.fromkeys(ordered) if found and found != message.message_id]
    candidates = ancestors[:MAX_REPLY_CANDIDATES]
    if message.message_id:
        candidates.append(message.message_id)
    return tuple(candidates)


def match_reply(
    message: ParsedMessage, on_issues: Mapping[str, int], thread_roots: Mapping[str, int]
) -> ReplyMatch | None:
    """The issue of the nearest message `message` replies to, or None.

    `on_issues`: Message-IDs among `reply_candidates(message)` that are stored on an issue of this
    inbox; `thread_roots`: those that are the root of a thread already tied to an issue.
    """
    for candidate in reply_candidates(message):
        if candidate == message.message_id:
            if candidate in thread_roots:
                number = thread_roots[candidate]
                return ReplyMatch(number, f"a reply to this message ({candidate}) is already on issue #{number}")
            continue
        header = "In-Reply-To" if candidate == message.in_reply_to else "References"
        if candidate in on_issues:
            number = on_issues[candidate]
            return ReplyMatch(number, f"{header} names {candidate}, which is on issue #{number}")
        if candidate in thread_roots:
            number = thread_roots[candidate]
            return ReplyMatch(number, f"{header} names {candidate}, whose thread is on issue #{number}")
    return None
