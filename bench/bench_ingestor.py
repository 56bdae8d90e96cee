"""Ingestor throughput (issues 4 and 13): parsing cost, the ingestor alone, the whole pipeline, memory, profiles.

Message kinds: "plain" (3.5 KB text/plain, each made the same way) and the realistic kinds of
`bench/realistic_mail.py` (small: the issue's mix of ~3.4 KB; medium: ~60 KB; large: ~5 MB).
(a) Ingestor alone: N messages preloaded (blobs stored, `message.fetched` queued), then
    `intake-ingestor` starts as a process; messages/s between the first and the last committed
    outcome (`tracker.outcomes.processed_at`), so start-up is not counted; plain, small and medium.
(b) Pipeline: messages through Dovecot, config-api, fetcher and ingestor as processes until every
    message has an issue and a final email-log row; the stack runs and the messages arrive in the
    IDLEd INBOX at once (clock from their arrival); plain, small and medium.
    BENCH_INGESTOR_PARTS=default,pair,cold adds two ingestors on one queue and a cold start.
(c) Memory: the ingestor's peak RSS while ingesting 20 large messages.
(d) Profiles (`bench/profiles.py`): one more ingestor-alone and pipeline run on the small mix under
    pyinstrument, samples sorted into stages.
Each run uses its own database, vhost and mailbox and removes them afterwards; (a) and (b) run
BENCH_INGESTOR_RUNS times (5), alternating, and the median is reported with every run's rate.
Run: `make bench BENCH=ingestor`; BENCH_INGESTOR_MESSAGES (5000), BENCH_INGESTOR_PIPELINE_MESSAGES
(2000), BENCH_INGESTOR_MEDIUM_MESSAGES (2000), BENCH_INGESTOR_MEDIUM_PIPELINE_MESSAGES (1000) change N.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import asyncpg

from bench import profiles, realistic_mail
from bench.environment import Environment
from bench.report import write_section
from intake.fetcher.fetch_runs import MAX_BODIES_PER_FETCH
from intake.ingestor.parsing import parse_message, parse_message_fully
from intake.shared import batched_events, bus, topology
from intake.shared.blobs import put_blobs
from intake.shared.contracts import MessageFetched
from intake.shared.event_publisher import BrokerPublisher, publish_all
from intake.shared.migrations import migrate, migrate_blobs
from tests.support.api import Api
from tests.support.dovecot import Dovecot, Mailbox, running_dovecot
from tests.support.processes import ServiceProcess, Stack, make_env, wait_until

ALONE_MESSAGES = int(os.environ.get("BENCH_INGESTOR_MESSAGES", "5000"))
PIPELINE_MESSAGES = int(os.environ.get("BENCH_INGESTOR_PIPELINE_MESSAGES", "2000"))
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


def make_messages(kind: str, count: int) -> Iterator[bytes]:
    """`count` messages: "plain" (`small_message`, as the bench had before issue 13) or a
    `bench.realistic_mail` kind (small, medium, large), made one at a time."""
    if kind == "plain":
        return (small_message(index) for index in range(1, count + 1))
    return realistic_mail.messages(kind, count)


# Parsing


def per_call_ms(function: Callable[[], object], seconds: float = 2.0) -> float:
    """CPU ms per call (this process's CPU time: other work on the machine does not count)."""
    calls = 0
    start = time.process_time()
    while time.process_time() - start < seconds:
        function()
        calls += 1
    return (time.process_time() - start) / calls * 1000


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


async def preload(env: Environment, raws: Iterable[bytes]) -> None:
    """Store each message's blob and queue its `message.fetched`; the messages are made as they are
    stored (a large one is 5 MB), 200 at a time."""
    db = await asyncpg.connect(env.database_url)
    stored: list[tuple[str, int]] = []
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
        chunk: list[bytes] = []
        for raw in [*raws, b""]:
            if raw:
                chunk.append(raw)
            if chunk and (len(chunk) == 200 or not raw or sum(map(len, chunk)) > 32 * 1024 * 1024):
                keys = await put_blobs(db, chunk)
                stored += [(key, len(content)) for key, content in zip(keys, chunk, strict=True)]
                chunk = []
    finally:
        await db.close()
    broker = bus.create_broker(env.amqp_url, app_id="bench")
    await bus.connect_broker(broker)
    try:
        await bus.declare_topology(broker, delivery_limit=5)
        now = datetime.now(UTC)
        events = [
            MessageFetched(inbox_id=inbox_id, uidvalidity=1, uid=uid, raw_sha256=key, size=size, fetched_at=now)
            for uid, (key, size) in enumerate(stored, 1)
        ]
        # As the fetcher publishes them: the messages of one FETCH (at most MAX_BODIES_PER_FETCH) together.
        batches = [
            batched_events.fetched_message([(event, None) for event in events[start : start + MAX_BODIES_PER_FETCH]])
            for start in range(0, len(events), MAX_BODIES_PER_FETCH)
        ]
        for start in range(0, len(batches), 20):
            await publish_all(
                BrokerPublisher(broker),
                [(batch, topology.MESSAGE_FETCHED, True) for batch, _ in batches[start : start + 20]],
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


def peak_rss_mb(pid: int) -> float:
    """The process's peak resident set size so far (VmHWM), in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


async def ingestor_alone(
    kind: str, count: int, workdir: Path, processes: int = 1, profile: Path | None = None
) -> dict[str, Any]:
    """`processes` ingestor processes on one queue (ops scale the ingestor so); CPU summed over them.
    `kind`: "plain" (`small_message`) or a `realistic_mail` kind. `profile`: run the (one) ingestor
    under pyinstrument and sort its samples into stages."""
    async with Environment() as env:
        await preload(env, make_messages(kind, count))
        await asyncio.to_thread(settle)
        env_vars = make_env(database_url=env.database_url, amqp_url=env.amqp_url)
        wrapper = profiles.wrapper(profile) if profile is not None else ()
        ingestors = [
            ServiceProcess("ingestor", env_vars, workdir / f"ingestor-{n}.log", wrapper=wrapper)
            for n in range(processes)
        ]

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
            peak = max(peak_rss_mb(process.process.pid) for process in ingestors if process.process is not None)
        finally:
            for process in ingestors:
                process.stop()
        assert span is not None
        assert first is not None
        steady = count - first[0]
        return {
            "kind": kind,
            "count": count,
            "processes": processes,
            "peak_rss_mb": peak,
            "stages": profiles.stages(profile) if profile is not None else {},
            "span": span,
            "rate": (count - 1) / span,
            "wall": wall,
            "cpu_ms": cpu / count * 1000,
            "steady_cpu_ms": (cpu - first[1]) / steady * 1000,
            "postgres_cpu_ms": (backends - first[2]) / steady * 1000,
        }


# (b) The whole pipeline


STAGING = "Staging"


def pipeline(
    count: int, workdir: Path, *, running: bool = False, kind: str = "plain", profile: bool = False
) -> dict[str, Any]:
    """`running=False`: the mailbox holds the messages when fetcher and ingestor start (start-up counted).
    `running=True`: the whole stack runs and the fetcher idles on the empty inbox when the messages
    arrive all at once (one UID MOVE into INBOX); the clock starts at the move."""
    return asyncio.run(_pipeline(count, workdir, running, kind, profile))


async def _pipeline(count: int, workdir: Path, running: bool, kind: str, profile: bool) -> dict[str, Any]:
    async with Environment() as env:
        with running_dovecot(starttls=False) as dovecot:
            mailbox = dovecot.new_user("bench")
            if running:
                mailbox.create_folder(STAGING)
            mailbox.append_many(list(make_messages(kind, count)), folder=STAGING if running else "INBOX")
            sessions = {name: workdir / f"{name}.pyisession" for name in ("fetcher", "ingestor", "config-api")}
            stack = env.stack(workdir)
            if profile:
                stack.wrappers.update({name: profiles.wrapper(path) for name, path in sessions.items()})
            try:
                result = await _run_pipeline(stack, dovecot, mailbox, env, count, running)
            finally:
                stack.stop_all()
            if profile:
                result["stages"] = {name: profiles.stages(path) for name, path in sessions.items()}
            return result | {"kind": kind}


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


# Which parts run: the issue's checks by default; "pair" (two ingestors) and "cold" (the pipeline from
# a cold start) on request, e.g. BENCH_INGESTOR_PARTS=default,pair,cold.
DEFAULT_PARTS = ("alone", "pipeline", "memory", "profile")
PARTS = {
    part
    for name in os.environ.get("BENCH_INGESTOR_PARTS", "default").split(",")
    for part in (DEFAULT_PARTS if name == "default" else (name,))
}
MEDIUM_ALONE_MESSAGES = int(os.environ.get("BENCH_INGESTOR_MEDIUM_MESSAGES", "2000"))
MEDIUM_PIPELINE_MESSAGES = int(os.environ.get("BENCH_INGESTOR_MEDIUM_PIPELINE_MESSAGES", "1000"))
LARGE_MESSAGES = 20


def realistic_parsing_costs() -> list[tuple[str, float]]:
    """CPU ms per message of both parsing paths over the first 200 messages of each realistic kind."""
    rows = []
    for kind, count in (("small", 200), ("medium", 200), ("large", 3)):
        raws = list(realistic_mail.messages(kind, count))
        average = sum(map(len, raws)) // len(raws)
        for label, parse in (
            ("`parse_message` (fast path)", parse_message),
            ("`policy.default` path", parse_message_fully),
        ):
            started = time.process_time()
            for raw in raws:
                parse(raw)
            rows.append(
                (
                    f"realistic {kind} ({average} bytes on average): {label}",
                    (time.process_time() - started) / count * 1000,
                )
            )
    return rows


def main() -> None:
    load_before = load()
    costs = parsing_costs() + realistic_parsing_costs()
    runs: dict[str, list[dict[str, Any]]] = {}
    with tempfile.TemporaryDirectory(prefix="intake-bench-") as tmp:
        # Each part RUNS times, alternating, each on a fresh database, vhost and mailbox: rates on this
        # shared 2-core machine vary by a quarter from one run to the next, so the median is reported.
        plan: list[tuple[str, Callable[[Path], dict[str, Any]]]] = []
        if "alone" in PARTS:
            plan += [
                ("alone plain", lambda d: asyncio.run(ingestor_alone("plain", ALONE_MESSAGES, d))),
                ("alone small", lambda d: asyncio.run(ingestor_alone("small", ALONE_MESSAGES, d))),
                ("alone medium", lambda d: asyncio.run(ingestor_alone("medium", MEDIUM_ALONE_MESSAGES, d))),
            ]
        if "pair" in PARTS:
            plan.append(("pair plain", lambda d: asyncio.run(ingestor_alone("plain", ALONE_MESSAGES, d, processes=2))))
        if "pipeline" in PARTS:
            plan += [
                ("running plain", lambda d: pipeline(PIPELINE_MESSAGES, d, running=True)),
                ("running small", lambda d: pipeline(PIPELINE_MESSAGES, d, running=True, kind="small")),
                ("running medium", lambda d: pipeline(MEDIUM_PIPELINE_MESSAGES, d, running=True, kind="medium")),
            ]
        if "cold" in PARTS:
            plan.append(("cold plain", lambda d: pipeline(PIPELINE_MESSAGES, d)))
        for run in range(RUNS):
            for name, measure in plan:
                workdir = Path(tmp) / f"{name.replace(' ', '-')}-{run}"
                workdir.mkdir()
                print(f"bench ingestor: {name}, run {run + 1} of {RUNS}", flush=True)
                runs.setdefault(name, []).append(measure(workdir))
        once: dict[str, dict[str, Any]] = {}
        if "memory" in PARTS:
            print("bench ingestor: memory, 20 large messages", flush=True)
            (Path(tmp) / "memory").mkdir()
            once["memory"] = asyncio.run(ingestor_alone("large", LARGE_MESSAGES, Path(tmp) / "memory"))
        if "profile" in PARTS:
            print("bench ingestor: profiles", flush=True)
            (Path(tmp) / "profile-alone").mkdir()
            (Path(tmp) / "profile-pipeline").mkdir()
            once["profile alone"] = asyncio.run(
                ingestor_alone(
                    "small",
                    ALONE_MESSAGES,
                    Path(tmp) / "profile-alone",
                    profile=Path(tmp) / "profile-alone" / "ingestor.pyisession",
                )
            )
            once["profile pipeline"] = pipeline(
                PIPELINE_MESSAGES, Path(tmp) / "profile-pipeline", running=True, kind="small", profile=True
            )
    medians = {name: median_run(results) for name, results in runs.items()}
    body = report(load_before, load(), costs, medians, once)
    write_section("ingestor", "Ingestor throughput", "make bench BENCH=ingestor", body)
    print(body)


TARGETS = {
    "alone plain": None,
    "alone small": 1000,
    "alone medium": None,
    "running plain": 600,
    "running small": 500,
    "running medium": 150,
}
# The reference parse's time on the machine of the issue-13 run of 2026-12-06 04:59 (docs/benchmarks.md).
REFERENCE_MS_AT_TARGETS = 0.252
PROCESS_NAMES = {"ingestor": "intake-ingestor", "fetcher": "intake-fetcher", "config-api": "intake-config-a"}


def stage_table(stages: dict[str, float], cpu_ms: float) -> list[str]:
    """Rows: stage, share of the busy samples, and that share of the process's CPU ms per message."""
    busy = sum(seconds for name, seconds in stages.items() if name != "idle")
    if busy <= 0:
        return ["| (no samples) | | |"]
    ordered = sorted(((n, t) for n, t in stages.items() if n != "idle"), key=lambda item: -item[1])
    return [f"| {name} | {seconds / busy * 100:.0f}% | {seconds / busy * cpu_ms:.3f} |" for name, seconds in ordered]


def report(
    load_before: str,
    load_after: str,
    costs: list[tuple[str, float]],
    medians: dict[str, dict[str, Any]],
    once: dict[str, dict[str, Any]],
) -> str:
    reference_ms = costs[0][1]
    lines = [
        f"Load average (1/5/15 min) before: {load_before}; after: {load_after}. On this 2-core machine anything "
        "above 2 means other work shared the cores, and the rates below are lower than on an idle machine by "
        "about that factor; CPU per message varies less.",
        "",
        f"Machine speed: the stdlib `policy.default` parse of the plain message (first row below) took "
        f"{reference_ms:.3f} ms here. On the machine where issue 13's targets were set and met in part "
        f"(2026-12-06 04:59) it took {REFERENCE_MS_AT_TARGETS} ms, so this machine runs Python about "
        f"{reference_ms / REFERENCE_MS_AT_TARGETS:.1f}× as slow; every process here is CPU-bound, so rates scale "
        "about inversely with that factor. Session machines of this kind differ in speed from one day to the "
        "next; compare CPU per message across runs, and rates only within one run.",
        "",
        f"Messages: **plain**, {len(small_message(1))} bytes of text/plain each, as the bench had before issue 13; "
        "the **realistic** kinds from `bench/realistic_mail.py` (seeded, deterministic): **small**, the issue's "
        "mix (40% text/plain, 35% multipart/alternative with HTML, 25% multipart/mixed with 1–3 small pdf/png/"
        "jpg/docx/csv attachments; 30% RFC 2047 subjects, 20% non-ASCII display names, a fifth of the "
        "file names non-ASCII in RFC 2231; three Received, a DKIM-Signature and Authentication-Results "
        f"each; {sum(map(len, realistic_mail.messages('small', 200))) // 200} bytes on average); **medium**, "
        "about 60 KB with 2–3 attachments; **large**, about 5 MB with three attachments. Every message "
        "makes a new issue.",
        "",
        "**Parsing one message** (this process, single thread, CPU ms per message):",
        "",
        "| what | ms |",
        "|---|---|",
        *(f"| {what} | {ms:.3f} |" for what, ms in costs),
        "",
        f"**Rates**, the median of {RUNS} runs each, parts alternating, each on a fresh database and vhost. "
        f"*Ingestor alone*: the messages preloaded (blobs stored, `message.fetched` queued), then "
        "`intake-ingestor` started with default settings; the rate runs from the first to the last committed "
        "outcome. *Pipeline*: Dovecot (plain IMAP on loopback), config-api, fetcher and ingestor as "
        "processes with default settings, the fetcher IDLEs on the empty INBOX, the messages arrive at once "
        "(one `UID MOVE` from another folder) and the clock runs from the move until every message has an "
        "issue and a final email-log row.",
        "",
        "| part | messages | msg/s (median) | runs | target | CPU ms per message (user + system) |",
        "|---|---|---|---|---|---|",
    ]
    for name, run in medians.items():
        target = TARGETS.get(name)
        if name.startswith(("alone", "pair")):
            cpu = (
                f"ingestor {run['steady_cpu_ms']:.2f} from the first outcome on ({run['cpu_ms']:.2f} with "
                f"start-up); its PostgreSQL backends {run['postgres_cpu_ms']:.2f}"
            )
        else:
            cpu = (
                ", ".join(f"{process} {ms:.2f}" for process, ms in run["cpu_ms"].items())
                + f"; total {sum(run['cpu_ms'].values()):.2f}"
            )
        lines.append(
            f"| {name} | {run['count']} | **{run['rate']:.0f}** | {run['rates']} | "
            f"{'≥ ' + str(target) if target else ''} | {cpu} |"
        )
    lines += [
        "",
        "Pipeline CPU is every process on the machine in the median run's window (the eight largest; "
        "`beam.smp` is RabbitMQ: per message three confirmed publishes and four deliveries, the `message.fetched` "
        "and `message.processed` ones shared by the messages of a batch (`FetchedBatch`, `ProcessedBatch`); "
        "`postgres` all backends). Two cores give 4 ms of CPU per message at 500 messages/s, 2 ms at 1,000.",
    ]
    for name, run in medians.items():
        if "timeline" in run:
            t = run["timeline"]
            lines.append(
                f"- {name}: half of the messages fetched {t['fetched_half']:.2f} s and all {t['fetched_all']:.2f} s "
                f"after the first fetch; median fetch→outcome {t['latency_median']:.2f} s; before the first fetch "
                f"{run['wall'] - run['span']:.2f} s (the move, and Dovecot's ~0.5 s before it tells IDLE); "
                f"outcomes {run['outcomes']}"
            )
    memory = once.get("memory")
    if memory is not None:
        lines += [
            "",
            f"**Memory**: the ingestor's peak RSS (VmHWM) while ingesting {memory['count']} large messages "
            f"(~5 MB each, three ~1.2 MB attachments; ingestor alone, as above): **{memory['peak_rss_mb']:.0f} MB** "
            f"(target < 300 MB); {memory['rate']:.1f} messages/s, {memory['steady_cpu_ms']:.0f} ms ingestor CPU "
            "per message.",
        ]
    alone = once.get("profile alone")
    if alone is not None:
        lines += [
            "",
            "**Where the time goes** (pyinstrument, one extra run each, `bench/profiles.py`: every 0.5 ms sample "
            "of the main thread goes to the innermost stage on its stack; shares of the busy samples, "
            "the event loop's waiting left out; ms = that share of the process's CPU per message in the "
            "median run above).",
            "",
            f"Ingestor alone, realistic small mix ({alone['count']} messages; profiled run {alone['rate']:.0f} msg/s):",
            "",
            "| stage | share | ms CPU/msg |",
            "|---|---|---|",
            *stage_table(alone["stages"], medians.get("alone small", alone)["steady_cpu_ms"]),
        ]
    piped = once.get("profile pipeline")
    if piped is not None:
        base = medians.get("running small", piped)["cpu_ms"]
        for service, stages in piped["stages"].items():
            cpu_ms = base.get(PROCESS_NAMES[service], 0.0)
            lines += [
                "",
                f"Pipeline, realistic small mix, **{service}** ({cpu_ms:.2f} ms CPU per message in the median run):",
                "",
                "| stage | share | ms CPU/msg |",
                "|---|---|---|",
                *stage_table(stages, cpu_ms),
            ]
    lines += [
        "",
        "Batches (`batch_handler.py`): each batch of up to 100 new messages costs a fixed number of PostgreSQL "
        "round trips and one COMMIT (stored outcomes + raw bytes; the tagged issues, if any; BEGIN; all locks "
        "in one statement; the reads under the locks; new issues + messages; attachments' blobs in one "
        "statement and their rows in another; outcomes + thread roots; COMMIT), then one `ProcessedBatch` "
        "and the `issue.created` publishes at once with their confirms awaited together, then the acks. Messages "
        "over 128 KiB, replays and redeliveries take the one-message path (large ones parsed in a thread).",
        "",
        (
            "Before issue 13 (the ingestor alone, same harness, the code at 36193a0 against the code now, minutes"
            " apart, load ~13, 2026-12-06 03:50): realistic small mix 5.34 → 1.07 ms ingestor CPU per message "
            "(its PostgreSQL backends 0.86 → 0.10), medium 14.6 → 1.7 ms (3.1 → 0.5), 20 large messages 425 → "
            "158–195 MB peak RSS and 113 → 42–92 ms. What changed: the parsing fast path reads encoded words, "
            "quoted and encoded display names and RFC 2231 names (`plain_headers.py`) and slices MIME instead of "
            "the feed parser (`mime_split.py`), messages with attachments are batched (`blobs.put_blobs`), "
            "messages up to 128 KiB are batched, larger ones two at a time."
        ),
        "",
        "For scale: django-helpdesk filed 48 messages/s (the realistic small mix) on the machine of the issue-13 "
        "runs before 2026-12-06 05:00, the one where the reference parse took 0.252 ms.",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
