"""Ingestor throughput: parsing cost, the ingestor alone, and the whole pipeline from a Dovecot mailbox.

(a) N small (~3.5 KB) messages are preloaded (blobs stored, `message.fetched` on the ingestor's
    queue), then `intake-ingestor` starts as a process; messages/s is measured between the first and
    the last committed outcome (`tracker.outcomes.processed_at`), so start-up is not counted.
(b) 2,000 small messages through Dovecot, config-api, fetcher and ingestor as processes, until every
    message has an issue and a final email-log row, two ways: into a running stack (the messages
    arrive in the IDLEd INBOX at once; clock from their arrival) and from a cold start (the mailbox
    holds them when fetcher and ingestor start; clock from starting them).
Each run uses its own database, vhost and mailbox and removes them afterwards; each part runs
BENCH_INGESTOR_RUNS times (5), alternating, and the median is reported with every run's rate.
Run: `make bench BENCH=ingestor` (BENCH_INGESTOR_MESSAGES=N changes N for part a).
"""

from __future__ import annotations

import asyncio
import os
import secrets
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import asyncpg

from bench.environment import Environment
from bench.report import write_section
from intake.ingestor.parsing import parse_message, parse_message_fully
from intake.shared import bus, topology
from intake.shared.blobs import blob_key
from intake.shared.contracts import MessageFetched
from intake.shared.migrations import migrate, migrate_blobs
from intake.shared.secrets import SecretBox
from tests.support.api import Api
from tests.support.dovecot import Dovecot, Mailbox, running_dovecot
from tests.support.processes import ServiceProcess, Stack, free_port, make_env, wait_until

ALONE_MESSAGES = int(os.environ.get("BENCH_INGESTOR_MESSAGES", "5000"))
PIPELINE_MESSAGES = 2000
DEADLINE_SECONDS = 900.0
TICKS = os.sysconf("SC_CLK_TCK")
SETTLE_SECONDS = 5.0


def small_message(index: int) -> bytes:
    """A plain 3.5 KB customer mail, each with its own Message-ID and subject."""
    mail = EmailMessage()
    mail["From"] = f"Customer {index} <customer{index}@example.com>"
    mail["To"] = "support@example.org"
    mail["Subject"] = f"Printer {index} does not print"
    mail["Message-ID"] = f"<bench-{index}-{secrets.token_hex(6)}@example.com>"
    mail["Date"] = "Tue, 01 Oct 2024 10:00:00 +0200"
    line = "The printer in room 4 shows error 0x42 and prints nothing at all today. "
    mail.set_content("Hello,\n\n" + (line + "\n") * 44 + "\nThanks,\nCustomer\n")
    return mail.as_bytes()


# Parsing


def per_call_ms(function: Callable[[], object], seconds: float = 2.0) -> float:
    calls = 0
    start = time.perf_counter()
    while time.perf_counter() - start < seconds:
        function()
        calls += 1
    return (time.perf_counter() - start) / calls * 1000


def parsing_costs() -> list[tuple[str, float]]:
    raw = small_message(1)

    def stdlib_default() -> None:
        message = message_from_bytes(raw, policy=policy.default)
        for name in ("Subject", "From", "To", "Cc", "Date", "Message-ID", "In-Reply-To", "References"):
            message.get(name)
        message.get_body(("plain", "html"))

    return [
        (
            f"stdlib `policy.default`: parse only ({len(raw)} bytes)",
            per_call_ms(lambda: message_from_bytes(raw, policy=policy.default)),
        ),
        ("stdlib `policy.default`: parse + read 8 headers + find the body", per_call_ms(stdlib_default)),
        ("stdlib `compat32`: parse only", per_call_ms(lambda: message_from_bytes(raw, policy=policy.compat32))),
        (
            "`parse_message` full path (`policy.default`, everything we keep)",
            per_call_ms(lambda: parse_message_fully(raw)),
        ),
        ("`parse_message` common path (`compat32`, everything we keep)", per_call_ms(lambda: parse_message(raw))),
    ]


# Shared set-up


def pid_cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of one process so far (0 once it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / TICKS


def settle(seconds: float = SETTLE_SECONDS) -> None:
    """Flush dirty pages and wait: the previous run's dropped database and vhost leave the kernel
    freeing and writing back for seconds, which would otherwise be counted in this run's window."""
    os.sync()
    time.sleep(seconds)


def cpu_by_process() -> dict[int, tuple[str, float]]:
    """PID → (command name, user + system CPU seconds so far) of every running process."""
    processes: dict[int, tuple[str, float]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        command = stat[stat.index("(") + 1 : stat.rindex(")")]
        fields = stat.rsplit(")", 1)[1].split()
        processes[int(entry.name)] = (command, (int(fields[11]) + int(fields[12])) / TICKS)
    return processes


def cpu_used_by_command(before: dict[int, tuple[str, float]], after: dict[int, tuple[str, float]]) -> dict[str, float]:
    """CPU seconds used between two `cpu_by_process` readings, per process, summed by command name.

    Per process, because a kernel worker's name changes with the work it runs (`kworker/u8:3-writeback`,
    then `…-events_unbound`): summing by name first would count such a worker's whole lifetime.
    Kernel workers are summed as one `kworker` entry."""
    used: dict[str, float] = {}
    for pid, (command, seconds) in after.items():
        name = "kworker" if command.startswith("kworker/") else command
        earlier = before.get(pid)
        used[name] = used.get(name, 0.0) + seconds - (earlier[1] if earlier is not None else 0.0)
    return used


def cpu_seconds(process: ServiceProcess) -> float:
    assert process.process is not None
    return pid_cpu_seconds(process.process.pid)


async def backend_cpu_seconds(database_url: str) -> float:
    """CPU seconds of the PostgreSQL backends serving `database_url` (other than this query's own)."""
    db = await asyncpg.connect(database_url)
    try:
        pids = await db.fetch(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
    finally:
        await db.close()
    return sum(pid_cpu_seconds(row["pid"]) for row in pids)


# (a) The ingestor alone


async def preload(env: Environment, count: int) -> None:
    db = await asyncpg.connect(env.database_url)
    try:
        await migrate(db, "intake.config_api", "config")
        await migrate_blobs(db)
        inbox_id: int = await db.fetchval(
            """INSERT INTO config.inboxes (provider, email, username, hostname, port, encryption, unmatched_action,
                                           issue_type_id)
               VALUES ('custom', 'support@example.org', 'support', 'imap.example.org', 993, 'ssl', 'create_issue',
                       (SELECT id FROM config.issue_types WHERE name = 'Support'))
               RETURNING id"""
        )
        raws = [small_message(index) for index in range(1, count + 1)]
        keys = [blob_key(raw) for raw in raws]
        await db.executemany(
            "INSERT INTO blobs.blobs (sha256, size, content) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
            [(key, len(raw), raw) for key, raw in zip(keys, raws, strict=True)],
        )
    finally:
        await db.close()
    broker = bus.create_broker(env.amqp_url, app_id="bench")
    await bus.connect_broker(broker)
    try:
        await bus.declare_topology(broker, delivery_limit=5)
        now = datetime.now(UTC)
        events = [
            MessageFetched(inbox_id=inbox_id, uidvalidity=1, uid=uid, raw_sha256=key, size=len(raw), fetched_at=now)
            for uid, (key, raw) in enumerate(zip(keys, raws, strict=True), 1)
        ]
        for start in range(0, len(events), 200):
            await asyncio.gather(
                *(bus.publish(broker, event, topology.MESSAGE_FETCHED) for event in events[start : start + 200])
            )
    finally:
        await broker.stop()


async def outcome_progress(database_url: str) -> tuple[int, float | None]:
    """Outcomes committed, and seconds between the first and the last one."""
    db = await asyncpg.connect(database_url)
    try:
        row = await db.fetchrow(
            """SELECT count(*) AS n, extract(epoch FROM max(processed_at) - min(processed_at)) AS span
               FROM tracker.outcomes"""
        )
    except asyncpg.UndefinedTableError:
        return 0, None
    finally:
        await db.close()
    return int(row["n"]), (float(row["span"]) if row["span"] is not None else None)


async def ingestor_alone(count: int, workdir: Path, processes: int = 1) -> dict[str, Any]:
    """`processes` ingestor processes on one queue (ops scale the ingestor so); CPU summed over them."""
    async with Environment() as env:
        await preload(env, count)
        await asyncio.to_thread(settle)
        env_vars = make_env(database_url=env.database_url, amqp_url=env.amqp_url)
        ingestors = [ServiceProcess("ingestor", env_vars, workdir / f"ingestor-{n}.log") for n in range(processes)]

        def ingestors_cpu() -> float:
            return sum(cpu_seconds(process) for process in ingestors)

        started = time.monotonic()
        for process in ingestors:
            process.start()
        try:
            deadline = started + DEADLINE_SECONDS
            first: tuple[int, float, float] | None = None
            while True:
                done, span = await outcome_progress(env.database_url)
                if first is None and done > 0:
                    # CPU from here on is steady work: start-up (imports, migrations) is behind.
                    first = (done, ingestors_cpu(), await backend_cpu_seconds(env.database_url))
                if done >= count:
                    break
                if time.monotonic() > deadline or not all(process.running for process in ingestors):
                    logs = "\n".join(process.log()[-3000:] for process in ingestors)
                    raise RuntimeError(f"{done} of {count} outcomes; ingestor logs:\n{logs}")
                await asyncio.sleep(0.25)
            wall = time.monotonic() - started
            cpu = ingestors_cpu()
            backends = await backend_cpu_seconds(env.database_url)
        finally:
            for process in ingestors:
                process.stop()
        assert span is not None
        assert first is not None
        steady = count - first[0]
        return {
            "count": count,
            "processes": processes,
            "span": span,
            "rate": (count - 1) / span,
            "wall": wall,
            "cpu_ms": cpu / count * 1000,
            "steady_cpu_ms": (cpu - first[1]) / steady * 1000,
            "postgres_cpu_ms": (backends - first[2]) / steady * 1000,
        }


# (b) The whole pipeline


STAGING = "Staging"


def pipeline(count: int, workdir: Path, *, running: bool = False) -> dict[str, Any]:
    """`running=False`: the mailbox holds the messages when fetcher and ingestor start (start-up counted).
    `running=True`: the whole stack runs and the fetcher idles on the empty inbox when the messages
    arrive all at once (one UID MOVE into INBOX); the clock starts at the move."""
    return asyncio.run(_pipeline(count, workdir, running))


async def _pipeline(count: int, workdir: Path, running: bool) -> dict[str, Any]:
    async with Environment() as env:
        with running_dovecot(starttls=False) as dovecot:
            mailbox = dovecot.new_user("bench")
            if running:
                mailbox.create_folder(STAGING)
            raws = [small_message(index) for index in range(1, count + 1)]
            mailbox.append_many(raws, folder=STAGING if running else "INBOX")
            stack = Stack(
                make_env(
                    database_url=env.database_url,
                    amqp_url=env.amqp_url,
                    secret_key=SecretBox.generate_key(),
                    admin_token=secrets.token_urlsafe(32),
                    api_host="127.0.0.1",
                    api_port=str(free_port()),
                    fetcher_inbox_refresh_seconds="1",
                ),
                workdir,
            )
            try:
                return await _run_pipeline(stack, dovecot, mailbox, env, count, running)
            finally:
                stack.stop_all()


def create_inbox(stack: Stack, dovecot: Dovecot, mailbox: Mailbox) -> None:
    """Start config-api and create the inbox through its API, as a user would."""
    stack.start("config-api")
    api = Api(f"http://127.0.0.1:{stack.env['INTAKE_API_PORT']}", stack.env["INTAKE_ADMIN_TOKEN"])
    try:
        wait_until(api.ready, timeout=60, what="config-api /readyz", explain=stack.logs)
        api.create_inbox(dovecot, mailbox)
    finally:
        api.http.close()


async def _run_pipeline(
    stack: Stack, dovecot: Dovecot, mailbox: Mailbox, env: Environment, count: int, running: bool
) -> dict[str, Any]:
    await asyncio.to_thread(create_inbox, stack, dovecot, mailbox)
    if running:
        stack.start("fetcher", "ingestor")
        await asyncio.to_thread(
            wait_until,
            lambda: dovecot.idling(mailbox.username),
            timeout=60,
            what="the fetcher idling",
            explain=stack.logs,
        )
        await asyncio.sleep(2)  # the services' start-up work behind them
    await asyncio.to_thread(settle)
    before = cpu_by_process()
    started = time.monotonic()
    if running:
        await asyncio.to_thread(mailbox.move_all, STAGING)
    else:
        stack.start("fetcher", "ingestor")
    db = await asyncpg.connect(env.database_url)
    try:
        while True:
            try:
                logged = await db.fetchval("SELECT count(*) FROM config.email_log WHERE outcome <> 'pending'")
                issues = await db.fetchval("SELECT count(*) FROM tracker.issues")
            except asyncpg.UndefinedTableError:
                logged = issues = 0
            if logged >= count and issues >= count:
                break
            if time.monotonic() - started > DEADLINE_SECONDS:
                raise RuntimeError(f"{logged} logged, {issues} issues of {count}\n{stack.logs()}")
            await asyncio.sleep(0.1)
        wall = time.monotonic() - started
        after = cpu_by_process()
        span = await db.fetchval(
            "SELECT extract(epoch FROM max(processed_at) - min(fetched_at)) FROM config.email_log WHERE uid > 0"
        )
        outcomes = dict(await db.fetch("SELECT outcome, count(*) FROM config.email_log GROUP BY outcome"))
        # Where the time went: when half and all of the messages were fetched, and the median time from
        # fetch to outcome (a growing one means the ingestor side is behind, a small one the fetcher).
        timeline = await db.fetchrow(
            """SELECT extract(epoch FROM percentile_disc(0.5) WITHIN GROUP (ORDER BY fetched_at)
                                         - min(fetched_at)) AS fetched_half,
                      extract(epoch FROM max(fetched_at) - min(fetched_at)) AS fetched_all,
                      extract(epoch FROM percentile_disc(0.5) WITHIN GROUP (ORDER BY processed_at - fetched_at))
                          AS latency_median
               FROM config.email_log WHERE uid > 0"""
        )
    finally:
        await db.close()
    return {
        "count": count,
        "wall": wall,
        "rate": count / wall,
        "span": float(span),
        "outcomes": outcomes,
        "timeline": {key: round(float(value), 2) for key, value in timeline.items()},
        # Processes that ended inside the window (none of these) would be missing.
        "cpu_ms": {
            name: seconds / count * 1000
            for name, seconds in sorted(cpu_used_by_command(before, after).items(), key=lambda item: -item[1])[:8]
        },
    }


def load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{one:.1f} / {five:.1f} / {fifteen:.1f}"


RUNS = int(os.environ.get("BENCH_INGESTOR_RUNS", "5"))


def median_run(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The run with the median rate, plus every run's rate (`rates`, in run order)."""
    chosen = sorted(runs, key=lambda run: run["rate"])[len(runs) // 2]
    return chosen | {"rates": ", ".join(f"{run['rate']:.0f}" for run in runs)}


def main() -> None:
    load_before = load()
    costs = parsing_costs()
    with tempfile.TemporaryDirectory(prefix="intake-bench-") as tmp:
        # Each part RUNS times, alternating, each on a fresh database, vhost and mailbox: rates on this
        # shared 2-core machine vary by a quarter from one run to the next, so the median is reported.
        alones, pairs, arrivings, colds = [], [], [], []
        for run in range(RUNS):
            for part in ("alone", "pair", "running", "cold"):
                (Path(tmp) / f"{part}-{run}").mkdir()
            alones.append(asyncio.run(ingestor_alone(ALONE_MESSAGES, Path(tmp) / f"alone-{run}")))
            pairs.append(asyncio.run(ingestor_alone(ALONE_MESSAGES, Path(tmp) / f"pair-{run}", processes=2)))
            arrivings.append(pipeline(PIPELINE_MESSAGES, Path(tmp) / f"running-{run}", running=True))
            colds.append(pipeline(PIPELINE_MESSAGES, Path(tmp) / f"cold-{run}"))
    alone, pair, arriving, cold = (median_run(runs) for runs in (alones, pairs, arrivings, colds))
    size = len(small_message(1))
    load_after = load()
    body = "\n".join(
        [
            f"Load average (1/5/15 min) before: {load_before}; after: {load_after}. On this 2-core machine "
            "anything above 2 means other work shared the cores, and the rates below are lower than on an "
            "idle machine by about that factor; CPU per message varies less.",
            "",
            f"Messages: plain text, {size} bytes each, a distinct Message-ID and subject each "
            "(every one makes a new issue).",
            "",
            "**Parsing one message** (this process, single thread, mean per call):",
            "",
            "| what | ms |",
            "|---|---|",
            *(f"| {what} | {ms:.3f} |" for what, ms in costs),
            "",
            f"**(a) The ingestor alone**: {alone['count']} messages preloaded (blobs stored, `message.fetched` "
            "queued), then `intake-ingestor` started as a process with default settings (prefetch 256, batches "
            "of up to 100, log level info). Rate between the first and the last committed outcome.",
            "",
            f"- **{alone['rate']:.0f} messages/s**, the median of {RUNS} runs ({alone['rates']}); the median run: "
            f"{alone['count']} in {alone['span']:.1f} s, {alone['wall']:.1f} s from process start, migrations "
            "included; its numbers below",
            f"- ingestor CPU per message (user + system): {alone['steady_cpu_ms']:.2f} ms from the first "
            f"outcome on; {alone['cpu_ms']:.2f} ms with start-up",
            f"- its PostgreSQL backends: {alone['postgres_cpu_ms']:.2f} ms CPU per message from the first outcome on",
            f"- **two ingestor processes** on the same queue (how ops scale it; same harness): "
            f"**{pair['rate']:.0f} messages/s**, the median of {RUNS} runs ({pair['rates']}), "
            f"{pair['steady_cpu_ms']:.2f} ms ingestor CPU per message; RabbitMQ and PostgreSQL share the same "
            "two cores, so a second process adds less than a core's worth",
            f"- so one whole core for the ingestor would allow about {1000 / alone['steady_cpu_ms']:.0f} messages/s "
            "(the ingestor is one process on one event loop: its CPU per message bounds its rate)",
            "- Batches (`batches.py`): each batch of up to 100 new messages costs about 7 PostgreSQL round trips "
            "and one COMMIT (stored outcomes + raw bytes; the tagged issues, if any; BEGIN; all locks in one "
            "statement; the reads under the locks; new issues + messages; outcomes + thread roots; COMMIT), "
            "then all `message.processed` and `issue.created` publishes at once with their confirms awaited "
            "together, then the acks. Before batches (one message per transaction, 7 round trips each, "
            "prefetch 16), the same harness measured 158 messages/s at 3.14 ms ingestor CPU per message "
            "(2026-11-24, load 4-5), and 231-283 messages/s at 2.7-3.0 ms (load ~3); with batches, "
            "same harness minutes apart, 896 messages/s at 1.33 ms (load ~1). Consuming through aio-pika instead of "
            "a faststream subscriber, alternately, 3,000 messages, load 3-4: 1.41 and 1.44 ms from the first "
            "outcome on before, 1.13 and 1.20 ms after.",
            "",
            f"**(b) The whole pipeline**: {PIPELINE_MESSAGES} messages, Dovecot (plain IMAP on loopback), "
            "config-api, fetcher and ingestor as processes with default settings, each run on a fresh "
            "database and vhost; done when every message has an issue and a final email-log row.",
            "",
            f"- **Running stack, mail arriving: {arriving['rate']:.0f} messages/s**, the median of {RUNS} runs "
            f"({arriving['rates']}; the median run: {arriving['count']} in {arriving['wall']:.2f} s, first fetch "
            f"to last outcome {arriving['span']:.2f} s). The stack runs and the fetcher IDLEs on the "
            "empty inbox; the messages were appended to another folder first and arrive in INBOX all at once "
            "(one `UID MOVE`); the clock runs from the move. This is the steady state a deployment lives in.",
            f"- **Cold start: {cold['rate']:.0f} messages/s**, the median of {RUNS} runs ({cold['rates']}; the "
            f"median run: {cold['count']} in {cold['wall']:.2f} s): the "
            "mailbox already holds the messages when fetcher and ingestor start, and the clock runs from "
            "starting them, so their start-up (imports, connections, migrations check, lease claim, IMAP "
            f"login) is counted; first fetch to last outcome took {cold['span']:.2f} s.",
            f"- outcomes: {arriving['outcomes']} (running), {cold['outcomes']} (cold)",
            "- CPU per message in the median running-stack run's window (user + system, every process on the "
            "machine, the eight largest), ms: "
            + ", ".join(f"{name} {ms:.2f}" for name, ms in arriving["cpu_ms"].items())
            + f"; total {sum(arriving['cpu_ms'].values()):.2f} ms. Two cores give 4 ms of CPU per message at "
            "500 messages/s. `beam.smp` is RabbitMQ: per message three confirmed publishes (`message.fetched` "
            "to two quorum queues, `message.processed` to two, the issue event to none) and four deliveries.",
            "- Cold start, CPU per message with start-up: "
            + ", ".join(f"{name} {ms:.2f}" for name, ms in cold["cpu_ms"].items()),
            "- Where the median running-stack run's time went: half of the messages were fetched "
            f"{arriving['timeline']['fetched_half']:.2f} s and all of them {arriving['timeline']['fetched_all']:.2f} s "
            "after the first fetch; the median message had its outcome "
            f"{arriving['timeline']['latency_median']:.2f} s after it was fetched. Before the first fetch "
            f"({arriving['wall'] - arriving['span']:.2f} s) are the move itself and Dovecot's own delay of about "
            "0.5 s before it tells an IDLE client about new mail.",
            "- CPU is counted per process between two readings (a kernel worker's name changes with the work "
            "it runs, so counting by name would add up its whole lifetime: the report before 2026-11-24 09:50 "
            "showed 1.5 ms of kernel workers per message that way; per process they use about 0.03 ms). "
            "The same work costs up to half as much again in some runs as in others on this shared virtual "
            "machine, which is what moves the rates most.",
            "- Same harness, cold start, single runs, 2026-11-24: 122–147 messages/s with the email log and the "
            "fetcher's outcomes consumed through faststream subscribers (one transaction and one ack per event: "
            "config-api 2.9–3.2 ms, fetcher 3.0 ms CPU per message); 267 with batched consumers "
            "(`shared/batch_consumer.py`: config-api 0.66, fetcher 1.75 ms); 327 with bytecode compiled at "
            "install (start-up no longer compiles every module); since then multiple acks and uvloop; then the "
            "fetcher's runs publishing up to 4 at once, 500 messages per fetch cycle instead of 100, and the "
            "batched consumers gathering for 50 ms instead of 5 (a quarter of the transactions).",
            "",
            "For scale: django-helpdesk files 48 messages/s on this machine.",
        ]
    )
    write_section("ingestor", "Ingestor throughput", "make bench BENCH=ingestor", body)
    print(body)


if __name__ == "__main__":
    main()
