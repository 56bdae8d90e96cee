"""Whether a message's From address is on the inbox's ignored-senders list, and which entry matched.

Pure: no I/O. An entry is either a whole address (`alice@example.com`: the address must be exactly
that), a domain (`@spamdomain.com`: the address's domain must be exactly that), or any other fragment
(`noreply`, `.spamdomain.com`: it must occur somewhere in the address). Case does not matter.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class IgnoredSender:
    """The ignored-senders entry that matched, as the inbox lists it, and the reason for the email log."""

    entry: str
    reason: str


def _matches(address: str, entry: str) -> bool:
    local, at, domain = entry.rpartition("@")
    if at and local and domain:
        return address == entry
    if at and not local:
        # `@spamdomain.com` names that domain, not `spamdomain.community` or `spamdomain.com.evil`.
        return address.rpartition("@")[2] == domain
    return entry in address


def ignored_sender(address: str | None, entries: Iterable[str]) -> IgnoredSender | None:
    """The first entry of `entries` that matches `address` (the From address), or None.

    >>> ignored_sender("Bob@SpamDomain.com", ["@spamdomain.com"]).reason
    'sender bob@spamdomain.com matches the ignored sender @spamdomain.com'
    >>> ignored_sender("bob@spamdomain.community", ["@spamdomain.com"]) is None
    True
    >>> ignored_sender(None, ["@spamdomain.com"]) is None
    True
    """
    if not address:
        return None
    folded = address.strip().casefold()
    for entry in entries:
        wanted = entry.strip().casefold()
        if wanted and _matches(folded, wanted):
            return IgnoredSender(entry, f"sender {folded} matches the ignored sender {entry.strip()}")
    return None
