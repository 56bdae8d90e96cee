"""UID checkpoint arithmetic: which UIDs of a folder are new, and how the checkpoint moves (pure).

New mail is found by UID above the checkpoint, never by the \\Seen flag, so a person reading the
mailbox never hides mail from Intake (DESIGN §2 "Cursor, not unread flags"). No I/O here.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace

from intake.shared.inbox_vocabulary import FirstFetch

MAX_UID = 2**32 - 1


@dataclass(frozen=True)
class Checkpoint:
    """How far one inbox's folder has been read.

    `last_uid`: every UID up to it was looked at. `initial_scan_until`: while set, UIDs up to it
    existed before the first connection and only the unread ones among them are taken.
    """

    uidvalidity: int
    last_uid: int = 0
    initial_scan_until: int | None = None


@dataclass(frozen=True)
class Reconciled:
    """The checkpoint to work from after SELECT, and why (`changed`: it must be saved)."""

    checkpoint: Checkpoint
    changed: bool
    reason: str


def start(uidvalidity: int, uidnext: int | None, first_fetch: FirstFetch) -> Checkpoint:
    """The checkpoint of a folder seen for the first time (or again after a UIDVALIDITY change).

    >>> start(7, 11, FirstFetch.UNREAD)
    Checkpoint(uidvalidity=7, last_uid=0, initial_scan_until=10)
    >>> start(7, 11, FirstFetch.ALL)
    Checkpoint(uidvalidity=7, last_uid=0, initial_scan_until=None)
    >>> start(7, None, FirstFetch.UNREAD)
    Checkpoint(uidvalidity=7, last_uid=0, initial_scan_until=None)
    """
    if first_fetch is FirstFetch.ALL or uidnext is None:
        # Without UIDNEXT (RFC 3501 §6.3.1 makes it optional) there is no ceiling for the unread rule,
        # and a guessed one (the largest UID) would end the scan above every future UID: take all
        # instead. The poller derives UIDNEXT from the folder's highest UID before calling this.
        return Checkpoint(uidvalidity)
    ceiling = uidnext - 1
    return Checkpoint(uidvalidity, 0, ceiling if ceiling >= 1 else None)


def reconcile(stored: Checkpoint | None, uidvalidity: int, uidnext: int | None, first_fetch: FirstFetch) -> Reconciled:
    """Compare the stored checkpoint with what SELECT said about the folder.

    A changed UIDVALIDITY means every UID we know is void (RFC 3501 §2.3.1.1): the folder is read
    again from its first UID, read messages included (the unread rule is only for a first connection:
    mail that arrived and was read since the last check would be lost). Messages fetched before are
    deduplicated downstream by Message-ID.

    >>> reconcile(Checkpoint(6, 40), 7, 11, FirstFetch.UNREAD).checkpoint
    Checkpoint(uidvalidity=7, last_uid=0, initial_scan_until=None)
    """
    if stored is None:
        return Reconciled(start(uidvalidity, uidnext, first_fetch), True, "first connection")
    if stored.uidvalidity != uidvalidity:
        return Reconciled(
            start(uidvalidity, uidnext, FirstFetch.ALL),
            True,
            f"UIDVALIDITY changed from {stored.uidvalidity} to {uidvalidity}; re-scanning every message",
        )
    return Reconciled(stored, False, "resuming")


def search_criteria(checkpoint: Checkpoint) -> tuple[str, ...]:
    """The UID SEARCH criteria that find candidates above the checkpoint.

    >>> search_criteria(Checkpoint(1, 41))
    ('UID', '42:*')
    >>> search_criteria(Checkpoint(1, 0, 10))
    ('UNSEEN', 'UID', '1:10')
    """
    first = checkpoint.last_uid + 1
    if checkpoint.initial_scan_until is not None:
        return ("UNSEEN", "UID", f"{first}:{checkpoint.initial_scan_until}")
    return ("UID", f"{first}:*")


@dataclass(frozen=True)
class Selection:
    """The UIDs to fetch this cycle, oldest first, and whether more were left for the next cycle."""

    uids: tuple[int, ...]
    truncated: bool


def select_new(checkpoint: Checkpoint, found: Iterable[int], limit: int) -> Selection:
    """The new UIDs among `found`, at most `limit` of them.

    `UID n:*` always matches the highest UID even when it is below n (RFC 3501 §6.4.8), so UIDs at
    or under the checkpoint are dropped here.

    >>> select_new(Checkpoint(1, 5), [5, 7, 6, 9], 2)
    Selection(uids=(6, 7), truncated=True)
    """
    ceiling = checkpoint.initial_scan_until if checkpoint.initial_scan_until is not None else MAX_UID
    new = sorted({uid for uid in found if checkpoint.last_uid < uid <= ceiling})
    return Selection(tuple(new[:limit]), len(new) > limit)


def advance(checkpoint: Checkpoint, uid: int) -> Checkpoint:
    """The checkpoint after message `uid` was stored (or deliberately passed over)."""
    last_uid = max(checkpoint.last_uid, uid)
    until = checkpoint.initial_scan_until
    if until is not None and last_uid >= until:
        return Checkpoint(checkpoint.uidvalidity, last_uid)
    return replace(checkpoint, last_uid=last_uid)


def finish_scan(checkpoint: Checkpoint, selection: Selection) -> Checkpoint:
    """The checkpoint after a whole selection was handled.

    Once an initial (unread-only) scan found everything below its ceiling, the read messages there
    are passed over for good and normal scanning continues above the ceiling.

    >>> finish_scan(Checkpoint(1, 4, 10), Selection((3, 4), truncated=False))
    Checkpoint(uidvalidity=1, last_uid=10, initial_scan_until=None)
    """
    until = checkpoint.initial_scan_until
    if until is None or selection.truncated:
        return checkpoint
    return Checkpoint(checkpoint.uidvalidity, max(checkpoint.last_uid, until))
