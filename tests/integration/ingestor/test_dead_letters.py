"""intake.shared.dead_letters (`intake-replay-dlq`) on real RabbitMQ: dead letters go back to their queue.

Here, not under shared/, because it replays what the ingestor dead-lettered and uses its fixtures.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import aio_pika
import asyncpg
import pytest

from intake.ingestor.app import IngestorApp
from intake.shared import topology
from intake.shared.contracts import Outcome
from intake.shared.dead_letters import replay_dead_letters
from tests.integration.ingestor.conftest import FetcherSide, Mailroom, MakeInbox, settings
from tests.integration.ingestor.test_app import dead_letters, eventually
from tests.support.mail import make_mail
from tests.support.processes import BIN, free_port, make_env

REFUSE = """CREATE FUNCTION public.refuse_all() RETURNS trigger LANGUAGE plpgsql AS $$
                BEGIN RAISE EXCEPTION 'storage refused for the test'; END $$;
            CREATE TRIGGER refuse_all BEFORE INSERT ON tracker.messages
                FOR EACH ROW EXECUTE FUNCTION public.refuse_all();"""


async def dead_letter_count(amqp_url: str) -> int:
    connection = await aio_pika.connect(amqp_url)
    try:
        channel = await connection.channel()
        queue = await channel.declare_queue(topology.DEAD_LETTER_QUEUE_NAME, passive=True)
        return queue.declaration_result.message_count or 0
    finally:
        await connection.close()


async def publish_to_dead_letter_exchange(amqp_url: str, body: bytes, headers: dict[str, object]) -> None:
    """A message in the dead-letter queue that did not get there by dying in a queue of ours."""
    connection = await aio_pika.connect(amqp_url)
    try:
        channel = await connection.channel(publisher_confirms=True)
        exchange = await channel.get_exchange(topology.DEAD_LETTER_EXCHANGE_NAME)
        await exchange.publish(aio_pika.Message(body, headers=headers), routing_key="message.fetched")
    finally:
        await connection.close()


async def test_failed_message_is_replayed_once_the_cause_is_fixed(
    database_url: str, amqp_url: str, db: asyncpg.Connection, make_inbox: MakeInbox
) -> None:
    inbox_id = await make_inbox()
    async with IngestorApp(settings(database_url, amqp_url, delivery_limit=1)):
        await db.execute(REFUSE)
        fetcher_side = FetcherSide(amqp_url)
        await fetcher_side.broker.start()
        try:
            mailroom = Mailroom(db, fetcher_side)
            failed = await mailroom.deliver(inbox_id, make_mail("Printer on fire", "<dlq-1@x>"))
            assert failed.outcome is Outcome.FAILED

            async def dead_lettered() -> bool:
                return await dead_letter_count(amqp_url) == 1

            await eventually(dead_lettered, "the failed message in the dead-letter queue")

            dry = await replay_dead_letters(amqp_url, dry_run=True)
            assert dry.found == 1
            assert dict(dry.by_origin) == {topology.INGESTOR_QUEUE: 1}
            assert not dry.moved
            assert await dead_letter_count(amqp_url) == 1

            await db.execute("DROP TRIGGER refuse_all ON tracker.messages")
            report = await replay_dead_letters(amqp_url)
            assert dict(report.moved) == {topology.INGESTOR_QUEUE: 1}
            assert not report.kept

            replayed = await fetcher_side.next_processed()
        finally:
            await fetcher_side.broker.stop()

    assert (replayed.uid, replayed.outcome) == (failed.uid, Outcome.ISSUE_CREATED)
    assert await dead_letter_count(amqp_url) == 0
    # Only the queue it died in got it again: the email log's queue had its copy already.
    connection = await aio_pika.connect(amqp_url)
    try:
        channel = await connection.channel()
        email_log = await channel.declare_queue(topology.EMAIL_LOG_FETCHED_QUEUE, passive=True)
        assert email_log.declaration_result.message_count == 1
    finally:
        await connection.close()


async def test_messages_without_a_known_origin_stay(
    amqp_url: str, ingestor: IngestorApp, fetcher_side: FetcherSide
) -> None:
    await publish_to_dead_letter_exchange(amqp_url, b"no origin", {})
    await publish_to_dead_letter_exchange(amqp_url, b"origin gone", {"x-first-death-queue": "gone.queue"})

    report = await replay_dead_letters(amqp_url)

    assert report.found == 2
    assert not report.moved
    assert dict(report.kept) == {
        "no x-first-death-queue header, so its origin is unknown": 1,
        "queue gone.queue does not exist": 1,
    }
    assert sorted(m.body for m in await dead_letters(amqp_url)) == [b"no origin", b"origin gone"]


async def test_command_line_counts_moves_and_fails_when_something_stays(
    amqp_url: str, ingestor: IngestorApp, fetcher_side: FetcherSide
) -> None:
    await publish_to_dead_letter_exchange(amqp_url, b"no origin", {})
    env = make_env(amqp_url=amqp_url)

    dry = subprocess.run([str(BIN / "intake-replay-dlq"), "--dry-run"], env=env, capture_output=True, text=True)
    moved = subprocess.run([str(BIN / "intake-replay-dlq")], env=env, capture_output=True, text=True)
    as_module = subprocess.run(
        [sys.executable, "-m", "intake.shared.dead_letters", "--dry-run"], env=env, capture_output=True, text=True
    )

    assert dry.returncode == 0, dry.stderr
    assert dry.stdout.splitlines() == [
        "intake.dead-letter holds 1 message(s)",
        "  1 from (origin unknown)",
        "dry run: nothing moved",
    ]
    assert moved.returncode == 1
    assert moved.stdout.splitlines() == [
        "intake.dead-letter holds 1 message(s)",
        "kept 1: no x-first-death-queue header, so its origin is unknown",
    ]
    assert as_module.returncode == 0
    assert "guest" not in dry.stdout + dry.stderr + moved.stdout + moved.stderr


def test_unreachable_broker_is_one_line_without_the_password() -> None:
    env = make_env(amqp_url=f"amqp://intake:s3cret-password@127.0.0.1:{free_port()}/")

    done = subprocess.run([str(BIN / "intake-replay-dlq")], env=env, capture_output=True, text=True)

    assert done.returncode == 2
    assert done.stdout == ""
    assert done.stderr.startswith("intake-replay-dlq: AMQPConnectionError: ")
    assert done.stderr.count("\n") == 1
    assert "s3cret-password" not in done.stderr


async def test_env_file_is_read_when_the_variable_is_unset(
    amqp_url: str, ingestor: IngestorApp, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    await publish_to_dead_letter_exchange(amqp_url, b"no origin", {})
    monkeypatch.delenv("INTAKE_AMQP_URL", raising=False)
    env_file = tmp_path / ".env"
    env_file.write_text(f"# the vhost of this test\nINTAKE_AMQP_URL={amqp_url}\n")
    env = make_env()

    dry = subprocess.run(
        [str(BIN / "intake-replay-dlq"), "--dry-run", "--env-file", str(env_file)],
        env=env,
        capture_output=True,
        text=True,
    )

    assert dry.returncode == 0, dry.stderr
    assert dry.stdout.splitlines()[0] == "intake.dead-letter holds 1 message(s)"
