"""Storage: database bytes per message while live, after the cleanup, and how long the cleanup takes.

Round 1: BENCH_STORAGE_MESSAGES (10,000) realistic messages (`realistic_mail`: the mix below) go
through Dovecot, config-api, fetcher and ingestor as processes. Then the retention passes (the
services' own cleanup code is called with a retention and blob grace of 3 s; the settings count in
days) and the cleanup runs: config-api's email-log retention, the fetcher's `prune_records`, the
ingestor's `StorageCleanup` (dedupe keys, then blobs), timed; then a plain VACUUM, as autovacuum would.
Round 2: as many messages again into the same database and the same cleanup: the space freed in
round 1 is reused, so the files grow by about what the round-1 issues keep, not by a second round.
Last, VACUUM FULL (a measurement only, never part of the cleanup) compacts every table, and the size
is compared with the size before any message plus what the issues keep.

Sizes are `pg_total_relation_size` (heap, TOAST, indexes) summed over each schema's tables.
Run: `make bench BENCH=storage`.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import random
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import asyncpg

from bench.environment import Environment
from bench.report import write_section
from intake.config_api.email_log import delete_expired
from intake.fetcher.record_retention import prune_records
from intake.ingestor.storage_cleanup import StorageCleanup
from tests.support.api import Api
from tests.support.dovecot import Dovecot, Mailbox, running_dovecot
from tests.support.processes import Stack, wait_until

MESSAGES = int(os.environ.get("BENCH_STORAGE_MESSAGES", "10000"))
RETENTION = timedelta(seconds=3)
DEADLINE_SECONDS = 1800.0
SCHEMAS = ("config", "fetcher", "tracker", "blobs")
IGNORED_DOMAIN = "news.example"
APPEND_CHUNK = 500

WORDS = [
    "printer",
    "invoice",
    "order",
    "delivery",
    "account",
    "password",
    "error",
    "screen",
    "update",
    "refund",
    "shipment",
    "contract",
    "meeting",
    "schedule",
    "network",
    "server",
    "backup",
    "license",
    "upgrade",
    "laptop",
    "warranty",
    "ticket",
    "access",
    "report",
]


def _sentence(rng: random.Random) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(rng.randint(8, 18))).capitalize() + "."


def _paragraphs(rng: random.Random, low: int, high: int) -> str:
    return "\n\n".join(
        " ".join(_sentence(rng) for _ in range(rng.randint(2, 5))) for _ in range(rng.randint(low, high))
    )


def realistic_mail(count: int, seed: int = 15) -> Iterator[bytes]:
    """`count` messages of a support mailbox, about 25 KB on average; the same for a seed.

    Mix: 41% new requests (text and HTML alternatives), 30% of those with 1-2 attachments of random
    (incompressible) bytes, 10-400 KB; 15% replies to an earlier request (In-Reply-To, quoted text);
    8% auto-replies (Auto-Submitted); 30% newsletters from an ignored sender (text and HTML, 4-20 KB); 3% a
    second copy of an earlier message (the same Message-ID: `duplicate`); 3% bounces
    (multipart/report). A quarter of the requests carry the same 6 KB logo inline (one blob).
    Replaceable by the throughput bench's corpus generator once it exists: only bytes are needed.
    """
    # A reproducible corpus, not secrets.
    rng = random.Random(seed)  # noqa: S311
    logo = random.Random(1).randbytes(6 * 1024)  # noqa: S311
    earlier: list[tuple[str, str, bytes]] = []  # (message id, subject, raw) of requests
    base = datetime(2026, 11, 1, 8, 0, tzinfo=UTC)
    for index in range(count):
        roll = rng.random()
        date = base + timedelta(seconds=index * 37)
        if roll < 0.03 and earlier:
            yield rng.choice(earlier)[2]
            continue
        mail = EmailMessage()
        mail["Date"] = format_datetime(date)
        mail["To"] = "support@example.org"
        message_id = f"<storage-{index}-{rng.getrandbits(48):x}@mail.example.com>"
        mail["Message-ID"] = message_id
        customer = f"customer{rng.randint(1, 3000)}@example.com"
        if roll < 0.33:  # newsletter from an ignored sender
            mail["From"] = f"Deals <offers@{IGNORED_DOMAIN}>"
            mail["Subject"] = f"This week's offers #{index}"
            html = "<html><body>" + "".join(f"<p>{_paragraphs(rng, 1, 2)}</p>" for _ in range(rng.randint(10, 30)))
            mail.set_content("View this mail in a browser.")
            mail.add_alternative(html + "</body></html>", subtype="html")
        elif roll < 0.41:  # auto-reply
            mail["From"] = f"<{customer}>"
            mail["Subject"] = "Automatic reply: your request"
            mail["Auto-Submitted"] = "auto-replied"
            mail.set_content("I am out of the office until Monday. " + _sentence(rng))
        elif roll < 0.44:  # bounce
            mail["From"] = "Mail Delivery System <mailer-daemon@example.org>"
            mail["Subject"] = "Undelivered Mail Returned to Sender"
            mail.set_content(f"Delivery to {customer} failed permanently.\n")
            mail.add_attachment(
                f"Reporting-MTA: dns; mx.example.org\n\nFinal-Recipient: rfc822; {customer}\nAction: failed\n"
                "Status: 5.1.1\n",
                subtype="delivery-status",
            )
            mail.set_type("multipart/report")
        elif roll < 0.59 and earlier:  # reply to an earlier request
            parent_id, subject, _ = rng.choice(earlier)
            mail["From"] = f"Customer <{customer}>"
            mail["Subject"] = f"Re: {subject}"
            mail["In-Reply-To"] = parent_id
            mail["References"] = parent_id
            quoted = "\n".join("> " + line for line in _paragraphs(rng, 2, 4).splitlines())
            mail.set_content(_paragraphs(rng, 1, 3) + "\n\n" + quoted)
        else:  # a new request
            subject = f"{rng.choice(WORDS).capitalize()} {rng.choice(WORDS)} problem {index}"
            mail["From"] = f"Customer {index} <{customer}>"
            mail["Subject"] = subject
            text = _paragraphs(rng, 2, 8)
            mail.set_content(text)
            mail.add_alternative(
                "<html><body>" + "".join(f"<p>{p}</p>" for p in text.split("\n\n")) + "</body></html>", subtype="html"
            )
            if rng.random() < 0.25:
                mail.add_attachment(logo, maintype="image", subtype="png", filename="logo.png", disposition="inline")
            if rng.random() < 0.3:
                for number in range(rng.randint(1, 2)):
                    size = int(min(400, max(10, rng.lognormvariate(4.3, 0.9))) * 1024)
                    mail.add_attachment(
                        rng.randbytes(size), maintype="application", subtype="pdf", filename=f"scan-{number}.pdf"
                    )
            raw = mail.as_bytes()
            earlier.append((message_id, subject, raw))
            yield raw
            continue
        yield mail.as_bytes()


# Measuring


async def sizes(db: asyncpg.Connection) -> dict[str, int]:
    """`pg_total_relation_size` summed over each schema's tables (heap, TOAST and indexes)."""
    rows = await db.fetch(
        """SELECT n.nspname AS schema, sum(pg_total_relation_size(c.oid))::bigint AS bytes
           FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
           WHERE c.relkind = 'r' AND n.nspname = ANY($1::text[]) GROUP BY n.nspname""",
        list(SCHEMAS),
    )
    found = {row["schema"]: row["bytes"] for row in rows}
    return {schema: found.get(schema, 0) for schema in SCHEMAS}


async def vacuum(db: asyncpg.Connection, *, full: bool = False) -> None:
    tables = await db.fetch(
        """SELECT format('%I.%I', n.nspname, c.relname) AS name FROM pg_class c
           JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.relkind = 'r' AND n.nspname = ANY($1::text[])""",
        list(SCHEMAS),
    )
    for table in tables:
        await db.execute(f"VACUUM ({'FULL, ' if full else ''}ANALYZE) {table['name']}")  # names from the catalog


async def settled(db: asyncpg.Connection, since: datetime, count: int) -> bool:
    """Every message fetched since `since` has its final email-log row, and the fetcher has its
    outcome and has done its mailbox action (earlier rounds' rows are pruned by then)."""
    try:
        logged = await db.fetchval(
            "SELECT count(*) FROM config.email_log WHERE fetched_at >= $1 AND outcome <> 'pending'", since
        )
        fetcher = await db.fetchval(
            """SELECT count(*) FROM fetcher.messages WHERE fetched_at >= $1
               AND state = 'processed' AND coalesce(action_state, 'done') IN ('done', 'abandoned')""",
            since,
        )
    except asyncpg.UndefinedTableError:
        return False
    return bool(logged >= count and fetcher >= count)


async def clean_up(pool: asyncpg.Pool) -> dict[str, Any]:
    """The three services' cleanups, each timed; what they deleted."""
    timings: dict[str, float] = {}
    started = time.monotonic()
    log_rows = await delete_expired(pool, datetime.now(UTC) - RETENTION, 5000)
    timings["email log (config-api)"] = time.monotonic() - started
    started = time.monotonic()
    fetcher = await prune_records(pool, RETENTION)
    timings["fetcher records (fetcher)"] = time.monotonic() - started
    started = time.monotonic()
    ingestor = await StorageCleanup(pool, outcome_retention=RETENTION, blob_grace=RETENTION)()
    timings["dedupe keys and blobs (ingestor)"] = time.monotonic() - started
    return {
        "timings": timings,
        "rows": {"config.email_log": log_rows, **fetcher.rows, **ingestor.rows},
        "blobs": ingestor.blobs,
        "bytes": ingestor.bytes,
    }


def append_all(mailbox: Mailbox, raws: list[bytes]) -> None:
    for start in range(0, len(raws), APPEND_CHUNK):
        mailbox.append_many(raws[start : start + APPEND_CHUNK])


async def one_round(
    db: asyncpg.Connection, pool: asyncpg.Pool, mailbox: Mailbox, mail: Iterator[bytes]
) -> dict[str, Any]:
    raws = list(itertools.islice(mail, MESSAGES))
    raw_bytes = sum(len(raw) for raw in raws)
    since: datetime = await db.fetchval("SELECT now()")
    started = time.monotonic()
    await asyncio.to_thread(append_all, mailbox, raws)
    del raws
    while not await settled(db, since, MESSAGES):
        if time.monotonic() - started > DEADLINE_SECONDS:
            raise RuntimeError(f"round not done within {DEADLINE_SECONDS:.0f} s")
        await asyncio.sleep(1)
    pipeline_seconds = time.monotonic() - started
    outcomes = dict(
        await db.fetch("SELECT outcome, count(*) FROM config.email_log WHERE fetched_at >= $1 GROUP BY 1", since)
    )
    live = await sizes(db)
    await asyncio.sleep(RETENTION.total_seconds() + 1)
    started = time.monotonic()
    cleanup = await clean_up(pool)
    cleanup["seconds"] = time.monotonic() - started
    after = await sizes(db)
    await vacuum(db)
    return {
        "raw_bytes": raw_bytes,
        "pipeline_seconds": pipeline_seconds,
        "outcomes": outcomes,
        "live": live,
        "cleanup": cleanup,
        "after": after,
        "after_vacuum": await sizes(db),
    }


async def what_issues_keep(db: asyncpg.Connection) -> dict[str, int]:
    """Issue rows and the blobs issues refer to, with nothing else left to count."""
    row = await db.fetchrow(
        """SELECT (SELECT count(*) FROM tracker.issues) AS issues,
                  (SELECT count(*) FROM tracker.messages) AS messages,
                  (SELECT count(*) FROM tracker.attachments) AS attachments,
                  (SELECT count(*) FROM blobs.blobs) AS blobs,
                  (SELECT count(*) FROM blobs.blobs b
                   WHERE EXISTS (SELECT FROM tracker.blob_references r WHERE r.sha256 = b.sha256)) AS referenced,
                  (SELECT coalesce(sum(size), 0) FROM blobs.blobs)::bigint AS blob_bytes"""
    )
    assert row is not None
    return dict(row)


async def measure(workdir: Path) -> dict[str, Any]:
    mail = realistic_mail(2 * MESSAGES)
    async with Environment() as env:
        with running_dovecot(starttls=False) as dovecot:
            mailbox = dovecot.new_user("storage")
            stack = env.stack(workdir)
            try:
                return await _measure(stack, dovecot, mailbox, env, mail)
            finally:
                stack.stop_all()


async def _measure(
    stack: Stack, dovecot: Dovecot, mailbox: Mailbox, env: Environment, mail: Iterator[bytes]
) -> dict[str, Any]:
    stack.start("config-api")
    api = Api(f"http://127.0.0.1:{stack.env['INTAKE_API_PORT']}", stack.env["INTAKE_ADMIN_TOKEN"])
    try:
        await asyncio.to_thread(wait_until, api.ready, timeout=60, what="config-api /readyz", explain=stack.logs)
        api.create_inbox(dovecot, mailbox, ignored_senders=[f"@{IGNORED_DOMAIN}"])
    finally:
        api.http.close()
    stack.start("fetcher", "ingestor")
    db = await asyncpg.connect(env.database_url)
    pool = await asyncpg.create_pool(env.database_url, min_size=1, max_size=2)
    assert pool is not None
    try:
        await asyncio.to_thread(
            wait_until, lambda: dovecot.idling(mailbox.username), timeout=60, what="fetcher idling", explain=stack.logs
        )
        before = await sizes(db)
        first = await one_round(db, pool, mailbox, mail)
        kept_after_first = await what_issues_keep(db)
        second = await one_round(db, pool, mailbox, mail)
        kept = await what_issues_keep(db)
        await vacuum(db, full=True)
        compact = await sizes(db)
    finally:
        await pool.close()
        await db.close()
    return {
        "raw_bytes": first["raw_bytes"],
        "before": before,
        "first": first,
        "kept_after_first": kept_after_first,
        "second": second,
        "kept": kept,
        "compact": compact,
    }


# Report


def mb(value: float) -> str:
    return f"{value / 1e6:,.1f} MB"


def size_table(rows: list[tuple[str, dict[str, int]]]) -> str:
    lines = ["| | " + " | ".join(f"`{schema}`" for schema in SCHEMAS) + " | total |", "|---" * (len(SCHEMAS) + 2) + "|"]
    for label, values in rows:
        lines.append(f"| {label} | " + " | ".join(mb(values[s]) for s in SCHEMAS) + f" | {mb(sum(values.values()))} |")
    return "\n".join(lines)


def report(result: dict[str, Any], loads: tuple[str, str]) -> str:
    before, first, second, compact, kept = (
        result["before"],
        result["first"],
        result["second"],
        result["compact"],
        result["kept"],
    )
    live_growth = {s: first["live"][s] - before[s] for s in SCHEMAS}
    per_message = " · ".join(f"`{s}` {live_growth[s] / MESSAGES:,.0f}" for s in SCHEMAS)
    issue_schemas = ("tracker", "blobs")
    issues_keep = sum(compact[s] - before[s] for s in issue_schemas)
    rest_before = sum(before[s] for s in SCHEMAS if s not in issue_schemas)
    rest_after = sum(compact[s] for s in SCHEMAS if s not in issue_schemas)
    expected = sum(before.values()) + issues_keep
    deviation = (sum(compact.values()) - expected) / sum(before.values())
    growth_first = sum(first["live"].values()) - sum(before.values())
    growth_second = sum(second["live"].values()) - sum(first["after_vacuum"].values())
    freed = first["cleanup"]["bytes"]

    def cleanup_lines(name: str, data: dict[str, Any]) -> str:
        cleanup = data["cleanup"]
        rows = ", ".join(f"{table} {count:,}" for table, count in cleanup["rows"].items())
        timings = ", ".join(f"{part} {seconds:.2f} s" for part, seconds in cleanup["timings"].items())
        return (
            f"- {name}: pipeline {data['pipeline_seconds']:.0f} s; outcomes {data['outcomes']}; cleanup "
            f"**{cleanup['seconds']:.1f} s** ({timings}); deleted rows {rows}; blobs {cleanup['blobs']:,} "
            f"({mb(cleanup['bytes'])})"
        )

    return f"""
- Load average (1/5/15 min) at start: {loads[0]}; at the end: {loads[1]} (a shared machine: the
  pipeline and cleanup times are noisy; the sizes are not).
- Load: {MESSAGES:,} messages per round from `realistic_mail` (bench/bench_storage.py: requests with
  text and HTML, 30% of them with 10-400 KB attachments, replies, auto-replies, newsletters from an
  ignored sender, duplicates, bounces), {mb(result["raw_bytes"])} of raw mail per round
  ({result["raw_bytes"] / MESSAGES / 1024:,.1f} KB per message); one inbox, `mark_read`; the services
  as processes; the cleanup is the services' own code called with a retention and blob grace of 3 s.

{
        size_table(
            [
                ("before any message", before),
                (f"round 1: {MESSAGES:,} messages live", first["live"]),
                ("round 1: after the cleanup", first["after"]),
                ("round 1: after the cleanup + VACUUM", first["after_vacuum"]),
                (f"round 2: {MESSAGES:,} more live", second["live"]),
                ("round 2: after the cleanup + VACUUM", second["after_vacuum"]),
                ("VACUUM FULL (measurement only)", compact),
            ]
        )
    }

- **Live: {sum(live_growth.values()) / MESSAGES:,.0f} bytes per message** ({per_message}). `blobs` holds
  every raw message and, for mail on issues, each attachment decoded once more (content-addressed:
  the same attachment once), so it is above the raw size per message.
{cleanup_lines("Round 1", first)}
{cleanup_lines("Round 2", second)}
- Space is reused, not returned: DELETE and VACUUM leave the files their size (rows 3-4 above), and
  the next messages fill that space first: round 2 grew the files by {mb(growth_second)} where round
  1 grew them by {mb(growth_first)}; the round-1 cleanup had freed {mb(freed)} of blob content and
  {sum(first["cleanup"]["rows"].values()):,} rows.
- **Back to the size before, apart from what the issues keep**: what the issues keep is everything
  left in `tracker` and `blobs` after the cleanup (checked: {kept["blobs"]:,} blobs left, every one
  referred to by an issue message or attachment: {kept["referenced"]:,}; {kept["issues"]:,} issues,
  {kept["messages"]:,} messages, {kept["attachments"]:,} attachments, {mb(kept["blob_bytes"])} of
  blob content), measured compacted: {mb(issues_keep)} over those schemas' size before. `config` and
  `fetcher` went from {mb(rest_before)} before to {mb(rest_after)}; the whole database compacted is
  {mb(sum(compact.values()))} against {mb(expected)} expected (before + what the issues keep):
  {deviation:+.1%} of the size before.
"""


def main() -> None:
    loads = os.getloadavg()
    start_load = " / ".join(f"{value:.1f}" for value in loads)
    with tempfile.TemporaryDirectory(prefix="bench-storage-") as workdir:
        result = asyncio.run(measure(Path(workdir)))
    end_load = " / ".join(f"{value:.1f}" for value in os.getloadavg())
    write_section(
        "storage",
        "Storage: bytes per message, the cleanup, and the size after it (issue 15)",
        "make bench BENCH=storage",
        report(result, (start_load, end_load)),
    )


if __name__ == "__main__":
    main()
