"""How fast fetcher replicas move inbox ownership: a SIGKILL, a SIGTERM, a new replica, an `inbox.changed` hint.

Three `intake-fetcher` processes with the default settings (lease 15 s, refresh 5 s) share 30 inboxes
that point at a closed port (so the loops only back off: this measures the leases, not IMAP). Times are
from the event to the moment the database shows the new live leases, polled every 20 ms. Uses its
own database and vhost on the loopback servers and removes them afterwards.
"""

from __future__ import annotations

import asyncio
import json
import signal
import statistics
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import TypeVar

import aio_pika
import asyncpg

from bench.environment import Environment
from bench.report import write_section
from intake.shared import topology
from intake.shared.contracts import InboxChanged
from intake.shared.migrations import migrate
from intake.shared.secrets import SecretBox
from tests.support.processes import ServiceProcess, free_port, make_env

T = TypeVar("T")
INBOXES = 30
HINTS = 10
TIMEOUT = 120.0


async def until(probe: Callable[[], Awaitable[T | None]], what: str) -> T:
    deadline = time.monotonic() + TIMEOUT
    while time.monotonic() < deadline:
        result = await probe()
        if result:
            return result
        await asyncio.sleep(0.02)
    raise RuntimeError(f"timed out waiting for {what}")


async def live_owners(db: asyncpg.Connection) -> dict[int, str]:
    try:
        rows = await db.fetch("SELECT inbox_id, owner FROM fetcher.leases WHERE expires_at > now()")
    except asyncpg.UndefinedTableError:
        return {}
    return {row["inbox_id"]: row["owner"] for row in rows}


async def add_inbox(db: asyncpg.Connection, box: SecretBox, port: int, n: int) -> int:
    inbox_id: int = await db.fetchval(
        """INSERT INTO config.inboxes (provider, email, username, password_encrypted, hostname, port, encryption,
                                       poll_interval_seconds)
           VALUES ('custom', $1, $1, $2, '127.0.0.1', $3, 'none', 60) RETURNING id""",
        f"bench{n}@example.test",
        box.encrypt("unused"),
        port,
    )
    return inbox_id


def replica_of(process: ServiceProcess) -> str:
    for line in process.log().splitlines():
        if '"fetcher started"' in line:
            replica: str = json.loads(line)["replica"]
            return replica
    return ""


async def scenario(database_url: str, amqp_url: str, tmp: Path) -> str:
    secret_key = SecretBox.generate_key()
    box = SecretBox(secret_key)
    closed_port = free_port()  # nothing listens there
    db = await asyncpg.connect(database_url)
    amqp = await aio_pika.connect_robust(amqp_url)
    processes: dict[str, ServiceProcess] = {}
    try:
        await migrate(db, "intake.config_api", "config")
        for n in range(INBOXES):
            await add_inbox(db, box, closed_port, n)
        env = make_env(database_url=database_url, amqp_url=amqp_url, secret_key=secret_key, log_level="info")

        def start(name: str) -> ServiceProcess:
            processes[name] = ServiceProcess("fetcher", env, tmp / f"{name}.log").start()
            return processes[name]

        started = time.monotonic()
        for name in ("f1", "f2", "f3"):
            start(name)

        async def fair() -> bool:
            owners = await live_owners(db)
            return len(owners) == INBOXES and sorted(Counter(owners.values()).values()) == [10, 10, 10]

        await until(fair, "three replicas to share 30 inboxes")
        first_share = time.monotonic() - started

        # SIGKILL: nothing is released; the leases must expire first.
        victim = replica_of(processes["f1"])
        orphans = {i for i, owner in (await live_owners(db)).items() if owner == victim}
        last_renewal = await db.fetchval("SELECT max(renewed_at) FROM fetcher.leases WHERE owner = $1", victim)
        processes["f1"].kill()
        killed = time.monotonic()

        async def taken_over() -> bool:
            owners = await live_owners(db)
            return all(owners.get(i) not in (None, victim) for i in orphans)

        await until(taken_over, "the killed replica's inboxes to move")
        kill_takeover = time.monotonic() - killed
        moved_at = await db.fetchval(
            "SELECT max(acquired_at) FROM fetcher.leases WHERE inbox_id = ANY($1::bigint[])", sorted(orphans)
        )
        since_renewal = (moved_at - last_renewal).total_seconds()
        kill_note = f"after the kill ({since_renewal:.1f} s after a renewal seen before it, database clock)"

        # A fourth replica joins: share ceil(30 / 3) = 10.
        start("f4")
        joined = time.monotonic()
        await until(fair, "the fourth replica to take its share")
        join_share = time.monotonic() - joined

        # SIGTERM: the leases are released and announced.
        leaving = replica_of(processes["f2"])
        handed = {i for i, owner in (await live_owners(db)).items() if owner == leaving}
        terminated = time.monotonic()
        leaver = processes["f2"].process
        assert leaver is not None
        leaver.send_signal(signal.SIGTERM)

        async def handed_over() -> bool:
            owners = await live_owners(db)
            return all(owners.get(i) not in (None, leaving) for i in handed)

        await until(handed_over, "the stopping replica's inboxes to move")
        term_takeover = time.monotonic() - terminated
        processes["f2"].stop()

        # inbox.changed: a new inbox, announced, is claimed without waiting for the 5 s refresh.
        channel = await amqp.channel()
        exchange = await channel.get_exchange(topology.EXCHANGE_NAME)
        hint_times = []
        for n in range(HINTS):
            inbox_id = await add_inbox(db, box, closed_port, INBOXES + n)
            sent = time.monotonic()
            event = InboxChanged(inbox_id=inbox_id, changed_at=datetime.now(UTC))
            await exchange.publish(
                aio_pika.Message(event.model_dump_json().encode()), routing_key=topology.INBOX_CHANGED
            )

            async def claimed(inbox_id: int = inbox_id) -> bool:
                return inbox_id in await live_owners(db)

            await until(claimed, "a new inbox to be claimed")
            hint_times.append(time.monotonic() - sent)
            await asyncio.sleep(0.5)
        hints = f"median {statistics.median(hint_times):.2f} s, max {max(hint_times):.2f} s"
    finally:
        for process in processes.values():
            if process.running:
                process.stop()
        await amqp.close()
        await db.close()

    return f"""
Three `intake-fetcher` processes, default settings (`INTAKE_FETCHER_LEASE_SECONDS=15`,
`INTAKE_FETCHER_INBOX_REFRESH_SECONDS=5`), 30 inboxes pointing at a closed port (the loops only
back off, so this measures lease handling, not IMAP). Each time runs from the event to the moment
PostgreSQL shows the new live leases (polled every 20 ms). Targets: a killed replica's inboxes move
within one lease period (15 s); a change reaches its owner within 5 s.

| event | measured |
|---|---|
| three replicas started → 10 inboxes each | {first_share:.1f} s (includes process start and migrations) |
| SIGKILL of one replica → its 10 inboxes owned by the others | {kill_takeover:.1f} s {kill_note} |
| a fourth replica starts → 10/10/10 | {join_share:.1f} s (includes process start) |
| SIGTERM of one replica → its inboxes owned by the others | {term_takeover:.2f} s |
| new inbox + `inbox.changed` → claimed ({HINTS} times) | {hints} |
"""


async def run() -> str:
    async with Environment() as env:
        with TemporaryDirectory() as tmp:
            return await scenario(env.database_url, env.amqp_url, Path(tmp))


def main() -> None:
    body = asyncio.run(run())
    write_section(
        "fetcher_leases",
        "Fetcher replicas: lease takeover and inbox.changed",
        "uv run python -m bench.bench_fetcher_leases",
        body,
    )
    print(body)


if __name__ == "__main__":
    main()
