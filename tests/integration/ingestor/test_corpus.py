"""Every corpus message through `intake-ingestor` as a real process on real RabbitMQ and PostgreSQL.

Each message gets exactly one final outcome, the process never dies, and every attachment the stdlib
finds (policy.default, `is_attachment()`, outside nested messages, which are stored whole as `.eml`)
is stored with the message (checked for the messages stored on an issue: a `duplicate` stores
nothing new). Prints the outcome and attachment counts (`pytest -s` shows them).
"""

from __future__ import annotations

import asyncio
import collections
import email
import hashlib
from datetime import UTC, datetime
from email import policy
from email.message import Message
from pathlib import Path

import asyncpg
import pytest

from intake.shared.blobs import put_blob
from intake.shared.contracts import MessageFetched, MessageProcessed, Outcome
from tests.integration.ingestor.conftest import UIDVALIDITY, MakeInbox, TestBus
from tests.support.corpus import SKIP_REASON, corpus_messages
from tests.support.processes import ServiceProcess, make_env, wait_until

CORPUS = corpus_messages()
pytestmark = pytest.mark.skipif(not CORPUS, reason=SKIP_REASON)
# A deadline for the whole corpus on a busy machine, not a speed expectation.
CORPUS_SECONDS = 600.0


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


async def publish_corpus(db: asyncpg.Connection, test_bus: TestBus, inbox_id: int) -> dict[int, Path]:
    by_uid: dict[int, Path] = {}
    for uid, path in enumerate(CORPUS, 1):
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
        await test_bus.publish(fetched)
        by_uid[uid] = path
    return by_uid


async def collect(test_bus: TestBus, count: int, ingestor: ServiceProcess) -> list[MessageProcessed]:
    received: list[MessageProcessed] = []
    deadline = asyncio.get_running_loop().time() + CORPUS_SECONDS
    while len(received) < count:
        assert ingestor.running, f"the ingestor died:\n{ingestor.log()[-4000:]}"
        remaining = deadline - asyncio.get_running_loop().time()
        assert remaining > 0, f"{len(received)} of {count} outcomes after {CORPUS_SECONDS:.0f}s"
        try:
            received.append(await asyncio.wait_for(test_bus.processed.get(), min(remaining, 5.0)))
        except TimeoutError:
            continue
    return received


async def stored_attachments(db: asyncpg.Connection, inbox_id: int, uid: int) -> list[str]:
    rows = await db.fetch(
        """SELECT a.sha256 FROM tracker.attachments a JOIN tracker.messages m ON m.id = a.message_row_id
           WHERE m.inbox_id = $1 AND m.uidvalidity = $2 AND m.uid = $3""",
        inbox_id,
        UIDVALIDITY,
        uid,
    )
    return [row["sha256"] for row in rows]


async def test_every_corpus_message_gets_one_outcome(
    db: asyncpg.Connection, amqp_url: str, make_inbox: MakeInbox, ingestor_process: ServiceProcess
) -> None:
    inbox_id = await make_inbox()
    ingestor_process.start()
    test_bus = TestBus(amqp_url)
    try:
        await asyncio.to_thread(
            wait_until,
            lambda: ingestor_process.started_count() > 0,
            timeout=60,
            what="the ingestor to start",
            explain=ingestor_process.log,
        )
        # Started after the ingestor, so the `intake` exchange and the ingestor's queue exist.
        await test_bus.broker.start()
        by_uid = await publish_corpus(db, test_bus, inbox_id)
        received = await collect(test_bus, len(by_uid), ingestor_process)
        # Nothing more arrives: exactly one outcome per message.
        await asyncio.sleep(1.0)
        assert test_bus.processed.empty()
    finally:
        await test_bus.broker.stop()
        status = ingestor_process.stop()
    assert status == 0, ingestor_process.log()[-4000:]

    assert sorted(p.uid for p in received) == sorted(by_uid)
    outcomes = collections.Counter(p.outcome.value for p in received)
    assert Outcome.FAILED.value not in outcomes, [p.reason for p in received if p.outcome is Outcome.FAILED]
    assert await db.fetchval("SELECT count(*) FROM tracker.outcomes WHERE inbox_id = $1", inbox_id) == len(by_uid)

    stdlib_total = stored_total = 0
    for processed in received:
        if processed.outcome not in (Outcome.ISSUE_CREATED, Outcome.ISSUE_UPDATED):
            continue
        path = by_uid[processed.uid]
        stored = await stored_attachments(db, inbox_id, processed.uid)
        stored_total += len(stored)
        for content in stdlib_attachments(path.read_bytes()):
            stdlib_total += 1
            assert hashlib.sha256(content).hexdigest() in stored, f"{path}: an attachment is not stored"
    rejected = sorted(f"{by_uid[p.uid].name}: {p.reason}" for p in received if p.outcome is Outcome.REJECTED)
    print(f"\ncorpus: {len(by_uid)} messages; outcomes {dict(sorted(outcomes.items()))}")
    print(f"attachments: {stored_total} stored; {stdlib_total} found by the stdlib, all among them")
    print("rejected:\n  " + "\n  ".join(rejected))
