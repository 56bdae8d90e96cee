"""Finding the issue number a subject names: a bracket tag holding `#<number>`, optionally after one word.

Pure: no I/O. Whether the number names an existing issue is for the caller to find out; a number
that does not exist is no match (DESIGN §1).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# `[#42]`, `[Issue #42]`, `[ACME#42]`: an opening bracket, at most one word (no spaces, brackets or
# `#`), `#`, the digits, and the closing bracket right after them. 18 digits fit a PostgreSQL bigint.
DEFAULT_TAG_PATTERN = re.compile(r"\[(?:[^\s\[\]#]+\s*)?#(?P<number>[0-9]{1,18})\]")


@dataclass(frozen=True)
class SubjectMatch:
    """The issue number a subject names (None when it names none), the tag found, and why."""

    number: int | None
    reason: str
    tag: str | None = None


def match_subject(subject: str, pattern: re.Pattern[str] = DEFAULT_TAG_PATTERN) -> SubjectMatch:
    """The issue number in the first tag of `subject` that `pattern` finds (its `number` group).

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
        number = int(found["number"])
        tag = found.group(0)
        if number < 1:
            # Issue numbers start at 1; keep looking in case a later tag is valid.
            continue
        return SubjectMatch(number, f"subject tag {tag} names issue #{number}", tag)
    first = pattern.search(subject)
    if first is not None:
        return SubjectMatch(None, f"subject tag {first.group(0)} names no valid issue number", first.group(0))
    return SubjectMatch(None, "subject has no issue tag like [#42]")
