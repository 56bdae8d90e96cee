"""A fake `Mailbox` (intake.fetcher.mailbox): one IMAP folder in memory, by UID, with failures a test injects.

It keeps UIDVALIDITY, the next UID, each message's bytes, INTERNALDATE and flags; UID SEARCH understands
the criteria the fetcher sends (`UID a:b`, `UID a:*`, `UNSEEN`, `ALL`), with `*` as the highest UID in
use (RFC 3501 §6.4.8). Failures, each until a test removes it: a UID whose FETCH raises
(`fetch_errors`); whose body FETCH answer holds no body, its header still readable (`bodiless`); whose
size the listing leaves out (`sizeless`); that another client expunges just before the FETCH
(`vanishing`); a FETCH of several bodies refused as a whole (`refuse_batch_fetch`); a STORE naming a
UID refused (`store_refused`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from intake.shared.imap_client import SelectedFolder
from intake.shared.imap_errors import ImapCommandError, ImapError
from intake.shared.imap_responses import Listed

SEEN = "\\Seen"
DELETED = "\\Deleted"


@dataclass
class FakeMessage:
    raw: bytes
    flags: set[str] = field(default_factory=set)
    internal_date: datetime | None = None

    @property
    def header(self) -> bytes:
        """The header block, blank line included (what BODY.PEEK[HEADER] returns)."""
        end = self.raw.find(b"\r\n\r\n")
        return self.raw if end < 0 else self.raw[: end + 4]


@dataclass
class FakeMailbox:
    uidvalidity: int = 1
    next_uid: int = 1
    messages: dict[int, FakeMessage] = field(default_factory=dict)
    supports_uid_expunge: bool = True
    fetch_errors: dict[int, ImapError] = field(default_factory=dict)
    bodiless: set[int] = field(default_factory=set)
    sizeless: set[int] = field(default_factory=set)
    vanishing: set[int] = field(default_factory=set)
    refuse_batch_fetch: bool = False
    store_refused: set[int] = field(default_factory=set)
    expunged: list[int] = field(default_factory=list)  # UIDs removed by UID EXPUNGE, in order

    # -- what a test does to the folder -------------------------------------------------------------
    def deliver(self, raw: bytes, *, seen: bool = False, internal_date: datetime | None = None) -> int:
        """A new message at the next UID; returns its UID."""
        uid = self.next_uid
        self.next_uid += 1
        self.messages[uid] = FakeMessage(raw, {SEEN} if seen else set(), internal_date)
        return uid

    def renumber(self, uidvalidity: int) -> None:
        """The server renumbered the folder (a new UIDVALIDITY): the same messages under new UIDs from 1."""
        self.uidvalidity = uidvalidity
        old, self.messages, self.next_uid = self.messages, {}, 1
        for _, message in sorted(old.items()):
            self.messages[self.next_uid] = message
            self.next_uid += 1

    @property
    def folder(self) -> SelectedFolder:
        """What SELECT would say."""
        return SelectedFolder(self.uidvalidity, self.next_uid)

    def flags(self, uid: int) -> set[str]:
        return self.messages[uid].flags

    # -- Mailbox ---------------------------------------------------------------------------------------
    async def uid_search(self, *criteria: str) -> list[int]:
        found = set(self.messages)
        words = list(criteria)
        while words:
            word = words.pop(0).upper()
            if word == "UNSEEN":
                found = {uid for uid in found if SEEN not in self.messages[uid].flags}
            elif word == "UID":
                found &= self._uid_set(words.pop(0))
            elif word != "ALL":
                raise ImapCommandError("search", f"the fake does not understand {word!r}")
        return sorted(found)

    def _uid_set(self, text: str) -> set[int]:
        highest = max(self.messages, default=0)
        uids: set[int] = set()
        for part in text.split(","):
            first, _, last = part.partition(":")
            low = highest if first == "*" else int(first)
            high = low if not last else highest if last == "*" else int(last)
            low, high = min(low, high), max(low, high)
            uids |= {uid for uid in self.messages if low <= uid <= high}
        return uids

    async def uid_exists(self, uid: int) -> bool:
        return uid in self.messages

    async def fetch_listing(self, uids: Iterable[int]) -> dict[int, Listed]:
        return {
            uid: Listed(len(self.messages[uid].raw), self.messages[uid].internal_date)
            for uid in uids
            if uid in self.messages and uid not in self.sizeless
        }

    async def fetch_bodies(self, uids: Iterable[int], size_hint: int = 0) -> dict[int, bytes | bytearray]:
        wanted = list(uids)
        if len(wanted) > 1 and self.refuse_batch_fetch:
            raise ImapCommandError("fetch", "NO [SERVERBUG] too many messages at once")
        self._before_fetch(wanted)
        return {uid: self.messages[uid].raw for uid in wanted if uid in self.messages and uid not in self.bodiless}

    async def fetch_body(self, uid: int, size_hint: int = 0) -> bytes | bytearray | None:
        return (await self.fetch_bodies([uid], size_hint)).get(uid)

    async def fetch_header(self, uid: int) -> bytes | bytearray | None:
        self._before_fetch([uid])
        message = self.messages.get(uid)
        return None if message is None else message.header

    def _before_fetch(self, uids: list[int]) -> None:
        for uid in uids:
            if uid in self.fetch_errors:
                raise self.fetch_errors[uid]
        for uid in self.vanishing.intersection(uids):
            self.messages.pop(uid, None)

    async def add_flags(self, uid: int | Iterable[int], *flags: str) -> None:
        uids = [uid] if isinstance(uid, int) else list(uid)
        refused = self.store_refused.intersection(uids)
        if refused:
            raise ImapCommandError("store", f"NO cannot store flags on {sorted(refused)}")
        for one in uids:
            if one in self.messages:  # a UID that is gone is not an error
                self.messages[one].flags.update(flags)

    async def uid_expunge(self, uid: int) -> None:
        if not self.supports_uid_expunge:
            raise ImapCommandError("expunge", "the server does not support UID EXPUNGE (UIDPLUS)")
        message = self.messages.get(uid)
        if message is not None and DELETED in message.flags:
            del self.messages[uid]
            self.expunged.append(uid)
