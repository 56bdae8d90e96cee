"""Fetcher replicas as processes. Three share 30 inboxes through leases; one is SIGKILLed, a fourth joins.

Every inbox is owned exactly once; the killed replica's inboxes move to the others within about one
lease period; a message appended to each inbox before the kill, after it and after the fourth
replica joined is published on `message.fetched` exactly once (counted by inbox, UIDVALIDITY, UID)
from the test's own queue; the fourth replica takes its fair share; SIGTERM stops the rest cleanly.
And a change made through config-api's API reaches the owning replica through `inbox.changed`.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import TypeVar

import aio_pika
import asyncpg
import pytest

from intake.shared import batched_events, topology
from intake.shared.migrations import migrate
from intake.shared.secrets import SecretBox
from tests.e2e.messages import message
from tests.support.api import Api
from tests.support.dovecot import Dovecot, Mailbox
from tests.support.processes import ServiceProcess, Stack, make_env

T = TypeVar("T")
INBOXES = 30
LEASE_SECONDS = 9
# Generous: the machine running the tests is shared; the design target is one lease period.
TAKEOVER_TIMEOUT = 10 * LEASE_SECONDS
TIMEOUT = 120.0

pytestmark = pytest.mark.timeout(900)


async def eventually(
    probe: Callable[[], Awaitable[T | None]], *, timeout: float, what: str, explain: Callable[[], str]
) -> T:
    deadline = time.monotonic() + timeout
    last: T | None = None
    while time.monotonic() < deadline:
        last = await probe()
        if last:
            return last
        await asyncio.sleep(0.2)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}; last value {last!r}\n{explain()}")


class Fetchers:
    """Fetcher processes sharing one environment, each with its own log."""

    def __init__(self, env: dict[str, str], tmp: Path) -> None:
        self.env = env
        self.tmp = tmp
        self.processes: dict[str, ServiceProcess] = {}

    def start(self, name: str) -> ServiceProcess:
        process = ServiceProcess("fetcher", self.env, self.tmp / f"{name}.log").start()
        self.processes[name] = process
        return process

    def replica_id(self, name: str) -> str | None:
        """The replica id the process logged when it started (JSON log lines)."""
        for line in self.processes[name].log().splitlines():
            if '"fetcher started"' in line:
                replica: str = json.loads(line)["replica"]
                return replica
        return None

    def logs(self) -> str:
        return "\n".join(f"--- {name} ---\n{p.log()[-4000:]}" for name, p in self.processes.items())


class Published:
    """The test's own queue on `message.fetched`: how often each (inbox, uidvalidity, uid) was published."""

    def __init__(self) -> None:
        self.counts: Counter[tuple[int, int, int]] = Counter()
        self.subjects: dict[tuple[int, int, int], str | None] = {}

    async def on_message(self, incoming: aio_pika.abc.AbstractIncomingMessage) -> None:
        for event, _ in batched_events.fetched(incoming.body, None):
            key = (event.inbox_id, event.uidvalidity, event.uid)
            self.counts[key] += 1
            self.subjects[key] = event.subject
        await incoming.ack()

    def with_subject(self, prefix: str) -> dict[tuple[int, int, int], int]:
        return {key: n for key, n in self.counts.items() if (self.subjects[key] or "").startswith(prefix)}


@pytest.fixture
async def published(amqp_url: str) -> AsyncIterator[Published]:
    connection = await aio_pika.connect_robust(amqp_url)
    try:
        channel = await connection.channel()
        exchange = await channel.declare_exchange(topology.EXCHANGE_NAME, aio_pika.ExchangeType.TOPIC, durable=True)
        queue = await channel.declare_queue("test.replicas.message-fetched", durable=False, exclusive=True)
        await queue.bind(exchange, routing_key=topology.MESSAGE_FETCHED)
        seen = Published()
        await queue.consume(seen.on_message)
        yield seen
    finally:
        await connection.close()


async def insert_inboxes(db: asyncpg.Connection, dovecot: Dovecot, secret_key: str) -> dict[int, Mailbox]:
    await migrate(db, "intake.config_api", "config")
    box = SecretBox(secret_key)
    inboxes: dict[int, Mailbox] = {}
    for _ in range(INBOXES):
        mailbox = dovecot.new_user("replicas")
        inbox_id = await db.fetchval(
            """INSERT INTO config.inboxes (provider, email, username, password_encrypted, hostname, port, encryption,
                                           poll_interval_seconds, first_fetch)
               VALUES ('custom', $1, $2, $3, $4, $5, 'none', 2, 'all') RETURNING id""",
            f"{mailbox.username}@example.test",
            mailbox.username,
            box.encrypt(mailbox.password),
            dovecot.host,
            dovecot.imap_port,
        )
        inboxes[inbox_id] = mailbox
    return inboxes


async def live_owners(db: asyncpg.Connection) -> dict[int, str]:
    try:
        rows = await db.fetch("SELECT inbox_id, owner FROM fetcher.leases WHERE expires_at > now()")
    except asyncpg.UndefinedTableError:  # no fetcher has migrated yet
        return {}
    return {row["inbox_id"]: row["owner"] for row in rows}


def append_to_each(inboxes: dict[int, Mailbox], subject: str) -> None:
    for inbox_id, mailbox in inboxes.items():
        raw, _ = message(f"{subject} {inbox_id}", f"{subject} for inbox {inbox_id}")
        mailbox.append(raw)


async def test_replicas_share_inboxes_and_take_over_a_killed_one(
    db: asyncpg.Connection,
    database_url: str,
    amqp_url: str,
    secret_key: str,
    dovecot: Dovecot,
    published: Published,
    tmp_path: Path,
) -> None:
    inboxes = await insert_inboxes(db, dovecot, secret_key)
    env = make_env(
        database_url=database_url,
        amqp_url=amqp_url,
        secret_key=secret_key,
        log_level="info",
        fetcher_inbox_refresh_seconds="1",
        fetcher_lease_seconds=str(LEASE_SECONDS),
    )
    fetchers = Fetchers(env, tmp_path)
    try:
        await _scenario(db, inboxes, fetchers, published)
    finally:
        # Every process is stopped, also when the test failed before the kill; the killed one says -9.
        statuses = {name: p.stop() for name, p in fetchers.processes.items()}
    unclean = {name: code for name, code in statuses.items() if code != 0 and name != "f1"}
    assert unclean == {}, f"unclean stop {statuses}\n{fetchers.logs()}"


async def _scenario(
    db: asyncpg.Connection, inboxes: dict[int, Mailbox], fetchers: Fetchers, published: Published
) -> None:
    explain = fetchers.logs
    append_to_each(inboxes, "Before")
    for name in ("f1", "f2", "f3"):
        fetchers.start(name)

    # Every inbox owned exactly once, ten each, and every message published.
    async def shared_fairly() -> dict[int, str] | None:
        owners = await live_owners(db)
        counts = Counter(owners.values())
        return owners if len(owners) == INBOXES and sorted(counts.values()) == [10, 10, 10] else None

    owners = await eventually(shared_fairly, timeout=TIMEOUT, what="30 inboxes over three replicas", explain=explain)

    async def before_published() -> bool:
        # All confirmed and marked: nothing waits for a republish that the kill could turn into a duplicate.
        stored = await db.fetchval("SELECT count(*) FROM fetcher.messages WHERE state <> 'published'")
        return len(published.with_subject("Before")) == INBOXES and stored == 0

    await eventually(before_published, timeout=TIMEOUT, what="every Before message published", explain=explain)

    # SIGKILL one replica: no release, no goodbye.
    killed = fetchers.replica_id("f1")
    assert killed is not None
    orphans = {inbox_id for inbox_id, owner in owners.items() if owner == killed}
    assert len(orphans) == 10
    fetchers.processes["f1"].kill()
    killed_at = time.monotonic()
    append_to_each(inboxes, "After kill")

    async def taken_over() -> dict[int, str] | None:
        owners = await live_owners(db)
        moved = all(owners.get(inbox_id) not in (None, killed) for inbox_id in orphans)
        return owners if moved and len(owners) == INBOXES else None

    owners = await eventually(
        taken_over, timeout=TAKEOVER_TIMEOUT, what="the killed replica's inboxes to move", explain=explain
    )
    # Shown with `pytest -s`; not asserted (the machine is shared), the wait above has a generous bound.
    print(f"inboxes of the killed replica owned again {time.monotonic() - killed_at:.1f}s after SIGKILL")
    assert Counter(owners.values()).keys() == {fetchers.replica_id("f2"), fetchers.replica_id("f3")}

    async def after_published() -> bool:
        return len(published.with_subject("After kill")) == INBOXES

    await eventually(after_published, timeout=TIMEOUT, what="every After-kill message published", explain=explain)

    # A fourth replica takes its fair share (ceil(30 / 3) = 10) from the two survivors.
    fetchers.start("f4")

    async def fourth_has_its_share() -> dict[int, str] | None:
        newcomer = fetchers.replica_id("f4")
        owners = await live_owners(db)
        counts = Counter(owners.values())
        return owners if len(owners) == INBOXES and newcomer and counts[newcomer] == 10 else None

    owners = await eventually(fourth_has_its_share, timeout=TIMEOUT, what="the fourth replica's share", explain=explain)
    assert sorted(Counter(owners.values()).values()) == [10, 10, 10]
    append_to_each(inboxes, "After join")

    async def join_published() -> bool:
        stored = await db.fetchval("SELECT count(*) FROM fetcher.messages WHERE state <> 'published'")
        return len(published.with_subject("After join")) == INBOXES and stored == 0

    await eventually(join_published, timeout=TIMEOUT, what="every After-join message published", explain=explain)

    # Exactly once, each: no replica fetched an inbox another one was fetching.
    assert len(published.counts) == 3 * INBOXES
    duplicates = {key: n for key, n in published.counts.items() if n != 1}
    assert duplicates == {}, duplicates
    assert await db.fetchval("SELECT count(*) FROM fetcher.messages") == 3 * INBOXES


async def test_a_change_made_through_the_api_reaches_its_owner_without_a_restart(
    stack: Stack, api: Api, dovecot: Dovecot, db: asyncpg.Connection, published: Published
) -> None:
    """config-api publishes `inbox.changed`; with periodic refreshes and leases far too slow to explain
    it, two replicas still claim a new inbox, follow a folder change and release a deactivated inbox."""
    env = {**stack.env, "INTAKE_FETCHER_INBOX_REFRESH_SECONDS": "3600", "INTAKE_FETCHER_LEASE_SECONDS": "600"}
    for name in ("fetcher-a", "fetcher-b"):
        stack.services[name] = ServiceProcess("fetcher", env, stack.tmp / f"{name}.log").start()
    explain = stack.logs

    async def started() -> bool:
        return all('"fetcher started"' in stack.services[n].log() for n in ("fetcher-a", "fetcher-b"))

    await eventually(started, timeout=TIMEOUT, what="both fetchers to start", explain=explain)
    mailbox = dovecot.new_user("changed")
    mailbox.create_folder("Other")
    raw, _ = message("In INBOX", "first")
    mailbox.append(raw)
    raw, _ = message("In Other", "second")
    mailbox.append(raw, folder="Other")

    inbox_id = api.create_inbox(dovecot, mailbox, poll_interval_seconds=1)["id"]

    async def fetched(subject: str) -> bool:
        return any(key[0] == inbox_id and published.subjects[key] == subject for key in published.counts)

    await eventually(lambda: fetched("In INBOX"), timeout=TIMEOUT, what="the new inbox to be claimed", explain=explain)

    changed_at = time.monotonic()
    response = api.http.patch(f"/api/v1/inboxes/{inbox_id}", json={"directory": "Other"})
    assert response.status_code == 200, response.text
    await eventually(lambda: fetched("In Other"), timeout=TIMEOUT, what="the folder change", explain=explain)
    # Shown with `pytest -s`, not asserted: the design target is within 5 s.
    print(f"folder change to its first fetch: {time.monotonic() - changed_at:.1f}s")

    response = api.http.patch(f"/api/v1/inboxes/{inbox_id}", json={"active": False})
    assert response.status_code == 200, response.text

    async def released() -> bool:
        return not await live_owners(db)

    await eventually(released, timeout=TIMEOUT, what="the deactivated inbox's lease to be released", explain=explain)
    assert all(count == 1 for count in published.counts.values()), published.counts
