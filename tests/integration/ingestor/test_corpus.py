"""Every corpus message through `intake-ingestor` as a real process on real RabbitMQ and PostgreSQL.

Each message gets exactly one final outcome, the process never dies, and every attachment the stdlib
finds (policy.default, `is_attachment()`, outside nested messages, which are stored whole as `.eml`)
is stored with the message (checked for the messages stored on an issue: a `duplicate` stores
nothing new). Prints the outcome and attachment counts (`pytest -s` shows them).

The outcome of every message and the attachments stored with it (file name, size, SHA-256, in order)
are pinned in `corpus_expected.json`, recorded before the parsing fast paths of issue 13: a faster
parser must store exactly what the slower one stored. After a deliberate change of what is kept,
record it again with `INTAKE_RECORD_CORPUS=1` and review the diff of that file.
"""

from __future__ import annotations

import asyncio
import collections
import email
import hashlib
import json
import os
from datetime import UTC, datetime
from email import policy
from email.message import Message
from pathlib import Path

import asyncpg
import pytest

from intake.shared.blobs import put_blob
from intake.shared.contracts import MessageFetched, MessageProcessed, Outcome
from tests.integration.ingestor.conftest import UIDVALIDITY, FetcherSide, MakeInbox
from tests.support.corpus import SKIP_REASON, corpus_dir, corpus_messages
from tests.support.processes import ServiceProcess, make_env, wait_until

CORPUS = corpus_messages()
pytestmark = pytest.mark.skipif(not CORPUS, reason=SKIP_REASON)
# A deadline for the whole corpus on a busy machine, not a speed expectation.
CORPUS_SECONDS = 600.0
EXPECTED = Path(__file__).with_name("corpus_expected.json")


def stdlib_attachments(raw: bytes) -> list[bytes]:
    """The decoded content of each part the stdlib calls an attachment, outside nested messages."""
    found: list[bytes] = []

    def visit(part: Message) -> None:
        if part.get_content_maintype() == "message":
            return  # stored whole as .eml; what is inside travels with it.
        if part.is_multipart():
            for child in part.get_payload():
                if isinstance(child, Message):
                    visit(child)
            return
        try:
            is_attachment = part.is_attachment()  # type: ignore[attr-defined]
        except Exception:
            return
        if is_attachment:
            payload = part.get_payload(decode=True)
            found.append(payload if isinstance(payload, bytes) else b"")

    visit(email.message_from_bytes(raw, policy=policy.default))
    return found


@pytest.fixture
def ingestor_process(database_url: str, amqp_url: str, tmp_path: Path) -> ServiceProcess:
    env = make_env(database_url=database_url, amqp_url=amqp_url, log_level="info")
    return ServiceProcess("ingestor", env, tmp_path / "ingestor.log")


async def publish_corpus(
    db: asyncpg.Connection, fetcher_side: FetcherSide, inbox_id: int, paths: list[tuple[int, Path]]
) -> dict[int, Path]:
    by_uid: dict[int, Path] = {}
    for uid, path in paths:
        raw = path.read_bytes()
        key = await put_blob(db, raw)
        fetched = MessageFetched(
            inbox_id=inbox_id,
            uidvalidity=UIDVALIDITY,
            uid=uid,
            raw_sha256=key,
            size=len(raw),
            fetched_at=datetime.now(UTC),
        )
        await fetcher_side.publish(fetched)
        by_uid[uid] = path
    return by_uid


def rounds() -> tuple[list[tuple[int, Path]], list[tuple[int, Path]]]:
    """(uid, path) of the first copy of each message (by `copies_key`), then of the other copies.

    Copies of one message race for "first" when published together (which one makes the issue and
    which are duplicates depends on timing); the first copies go first, so the outcome is the same
    every run and can be pinned."""
    seen: set[str] = set()
    firsts, others = [], []
    for uid, path in enumerate(CORPUS, 1):
        key = copies_key(path)
        (others if key in seen else firsts).append((uid, path))
        seen.add(key)
    return firsts, others


async def collect(fetcher_side: FetcherSide, count: int, ingestor: ServiceProcess) -> list[MessageProcessed]:
    received: list[MessageProcessed] = []
    deadline = asyncio.get_running_loop().time() + CORPUS_SECONDS
    while len(received) < count:
        assert ingestor.running, f"the ingestor died:\n{ingestor.log()[-4000:]}"
        remaining = deadline - asyncio.get_running_loop().time()
        assert remaining > 0, f"{len(received)} of {count} outcomes after {CORPUS_SECONDS:.0f}s"
        try:
            received.append(await asyncio.wait_for(fetcher_side.processed.get(), min(remaining, 5.0)))
        except TimeoutError:
            continue
    return received


async def stored_attachments(db: asyncpg.Connection, inbox_id: int, uid: int) -> list[list[str | int]]:
    """[file name, size, SHA-256] of each attachment stored with the message, in stored order."""
    rows = await db.fetch(
        """SELECT a.filename, a.size, a.sha256 FROM tracker.attachments a
           JOIN tracker.messages m ON m.id = a.message_row_id
           WHERE m.inbox_id = $1 AND m.uidvalidity = $2 AND m.uid = $3 ORDER BY a.id""",
        inbox_id,
        UIDVALIDITY,
        uid,
    )
    return [[row["filename"], row["size"], row["sha256"]] for row in rows]


async def test_every_corpus_message_gets_one_outcome(
    db: asyncpg.Connection, amqp_url: str, make_inbox: MakeInbox, ingestor_process: ServiceProcess
) -> None:
    inbox_id = await make_inbox()
    ingestor_process.start()
    fetcher_side = FetcherSide(amqp_url)
    try:
        await asyncio.to_thread(
            wait_until,
            lambda: ingestor_process.started_count() > 0,
            timeout=60,
            what="the ingestor to start",
            explain=ingestor_process.log,
        )
        # Started after the ingestor, so the `intake` exchange and the ingestor's queue exist.
        await fetcher_side.broker.start()
        by_uid: dict[int, Path] = {}
        received: list[MessageProcessed] = []
        for paths in rounds():
            published = await publish_corpus(db, fetcher_side, inbox_id, paths)
            by_uid.update(published)
            received += await collect(fetcher_side, len(published), ingestor_process)
        # Nothing more arrives: exactly one outcome per message.
        await asyncio.sleep(1.0)
        assert fetcher_side.processed.empty()
    finally:
        await fetcher_side.broker.stop()
        status = ingestor_process.stop()
    assert status == 0, ingestor_process.log()[-4000:]

    assert sorted(p.uid for p in received) == sorted(by_uid)
    outcomes = collections.Counter(p.outcome.value for p in received)
    assert Outcome.FAILED.value not in outcomes, [p.reason for p in received if p.outcome is Outcome.FAILED]
    assert await db.fetchval("SELECT count(*) FROM tracker.outcomes WHERE inbox_id = $1", inbox_id) == len(by_uid)

    stdlib_total = stored_total = 0
    root = corpus_dir() or Path()
    observed: dict[str, dict[str, object]] = {}
    for processed in sorted(received, key=lambda p: p.uid):
        path = by_uid[processed.uid]
        stored = await stored_attachments(db, inbox_id, processed.uid)
        observed[path.relative_to(root).as_posix()] = {"outcome": processed.outcome.value, "attachments": stored}
        if processed.outcome not in (Outcome.ISSUE_CREATED, Outcome.ISSUE_UPDATED):
            continue
        stored_total += len(stored)
        stored_keys = {key for _, _, key in stored}
        for content in stdlib_attachments(path.read_bytes()):
            stdlib_total += 1
            assert hashlib.sha256(content).hexdigest() in stored_keys, f"{path}: an attachment is not stored"
    rejected = sorted(f"{by_uid[p.uid].name}: {p.reason}" for p in received if p.outcome is Outcome.REJECTED)
    print(f"\ncorpus: {len(by_uid)} messages; outcomes {dict(sorted(outcomes.items()))}")
    print(f"attachments: {stored_total} stored; {stdlib_total} found by the stdlib, all among them")
    print("rejected:\n  " + "\n  ".join(rejected))
    if os.environ.get("INTAKE_RECORD_CORPUS") == "1":
        EXPECTED.write_text(json.dumps(observed, indent=1, ensure_ascii=False, sort_keys=True) + "\n")
    expected = json.loads(EXPECTED.read_text())
    assert collections.Counter(entry["outcome"] for entry in observed.values()) == collections.Counter(
        entry["outcome"] for entry in expected.values()
    )
    changed = sorted(name for name in expected.keys() | observed.keys() if expected.get(name) != observed.get(name))
    assert not changed, "outcome or stored attachments differ from corpus_expected.json:\n" + "\n".join(
        f"{name}: expected {expected.get(name)}, now {observed.get(name)}" for name in changed[:20]
    )


def copies_key(path: Path) -> str:
    """The stdlib's reading of the Message-ID (the file itself when there is none): copies share it."""
    try:
        message_id = email.message_from_bytes(path.read_bytes(), policy=policy.compat32)["Message-ID"]
    except Exception:
        message_id = None
    return str(message_id).strip() if message_id else str(path)
