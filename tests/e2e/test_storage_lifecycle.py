"""Storage lifecycle end to end (issue 15): mail with every stored outcome goes through the three
services as processes; after a retention of a few seconds and a cleanup every raw blob and every
fetcher record of skipped mail is gone, issues are intact with byte-identical attachments, live rows
are untouched; then a UIDVALIDITY change re-fetches the pruned issue mail and it is a `duplicate`.

The cleanup is the services' own code (config-api's email-log retention, the fetcher's
`prune_records`, the ingestor's `StorageCleanup`), called here with retentions of seconds: the
deployment settings count in days.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import httpx

from intake.config_api.email_log import delete_expired
from intake.fetcher.record_retention import prune_records
from intake.ingestor.storage_cleanup import StorageCleanup
from tests.e2e.messages import PDF, message
from tests.support.api import Api
from tests.support.dovecot import Dovecot
from tests.support.processes import Stack, wait_until

TIMEOUT = 90.0
RETENTION = timedelta(seconds=3)
SKIPS = {"ignored_sender", "unmatched_ignored", "auto_generated", "duplicate", "rejected"}


def final_outcomes(api: Api, inbox_id: int, count: int) -> list[dict[str, Any]] | None:
    rows = api.email_log(inbox_id)
    return rows if len(rows) == count and all(row["outcome"] != "pending" for row in rows) else None


async def fetcher_settled(pool: asyncpg.Pool, count: int) -> bool:
    """Every fetched message has its outcome and no mailbox action is still owed."""
    row = await pool.fetchrow(
        """SELECT count(*) AS n, count(*) FILTER (WHERE state = 'processed'
                  AND coalesce(action_state, 'done') IN ('done', 'abandoned')) AS settled
           FROM fetcher.messages"""
    )
    assert row is not None
    return bool(row["n"] == count == row["settled"])


async def clean_up(pool: asyncpg.Pool) -> None:
    """One cleanup of every kind, in the services' order of independence (blobs last)."""
    await delete_expired(pool, datetime.now(UTC) - RETENTION, batch_size=2)
    await prune_records(pool, RETENTION, batch_size=2)
    await StorageCleanup(pool, outcome_retention=RETENTION, blob_grace=RETENTION)()


def test_after_retention_only_issues_and_live_rows_keep_storage(
    stack: Stack, api: Api, dovecot: Dovecot, database_url: str
) -> None:
    asyncio.run(_lifecycle(stack, api, dovecot, database_url))


async def _lifecycle(stack: Stack, api: Api, dovecot: Dovecot, database_url: str) -> None:
    support = dovecot.new_user("support")
    support.create_folder("Support")
    desk = api.create_inbox(dovecot, support, directory="Support", ignored_senders=["@ignored.example"])
    quiet_box = dovecot.new_user("quiet")
    quiet = api.create_inbox(dovecot, quiet_box, unmatched_action="ignore")
    stack.env["INTAKE_FETCHER_MAX_MESSAGE_BYTES"] = "8192"
    stack.start("fetcher", "ingestor")

    invoice = PDF + b"% the invoice\n"
    photo = PDF + b"% a photo of the printer\n"
    new, new_id = message("Printer on fire", "It smokes.", attachment=("invoice.pdf", invoice))
    reply, _ = message("Re: Printer on fire", "Still smoking.", attachment=("photo.pdf", photo), in_reply_to=new_id)
    ignored, _ = message("Buy now", "Offer", sender="Spam <deals@ignored.example>", attachment=("x.pdf", PDF + b"%x"))
    auto, _ = message("Out of office", "Back on Monday.")
    auto = b"Auto-Submitted: auto-replied\r\n" + auto
    too_large, _ = message("Logs attached", "See logs.", attachment=("logs.pdf", PDF + b"%" + b"x" * 20_000 + b"\n"))
    support.append(new, folder="Support")
    await_rows = lambda n: wait_until(  # noqa: E731
        lambda: final_outcomes(api, desk["id"], n), timeout=TIMEOUT, what=f"{n} final outcomes", explain=stack.logs
    )
    await_rows(1)  # the issue exists before its reply and the duplicate arrive
    for raw in (reply, ignored, auto, new, too_large):  # `new` again under another UID: a duplicate
        support.append(raw, folder="Support")
    quiet_box.append(message("Hello", "Anyone there?")[0])
    rows = await_rows(6) + wait_until(
        lambda: final_outcomes(api, quiet["id"], 1), timeout=TIMEOUT, what="unmatched", explain=stack.logs
    )
    assert {row["outcome"] for row in rows} == SKIPS | {"issue_created", "issue_updated"}

    pool = await asyncpg.create_pool(database_url, min_size=1, max_size=3)
    assert pool is not None
    try:
        await _wait(lambda: fetcher_settled(pool, 7), "every outcome and mailbox action recorded")
        issue_number = next(row["issue_number"] for row in rows if row["outcome"] == "issue_created")
        issue_before = api.get(f"/api/v1/issues/{issue_number}")
        skipped_raw = {
            r["raw_sha256"]
            for r in await pool.fetch("SELECT raw_sha256, outcome FROM fetcher.messages")
            if r["outcome"] in SKIPS
        } - {r["raw_sha256"] for r in await pool.fetch("SELECT raw_sha256 FROM tracker.messages")}
        assert len(skipped_raw) == 4  # five skips; the duplicate's raw bytes are the issue message's own

        time.sleep(RETENTION.total_seconds() + 1)
        # Live: mail that arrives now is younger than the retention, whatever its outcome.
        quiet_box.append(message("Still there?", "Hello again.")[0])
        wait_until(lambda: final_outcomes(api, quiet["id"], 2), timeout=TIMEOUT, what="live row", explain=stack.logs)
        await _wait(lambda: fetcher_settled(pool, 8), "the live message's outcome recorded")
        live = await pool.fetchrow("SELECT * FROM fetcher.messages ORDER BY fetched_at DESC LIMIT 1")
        assert live is not None
        live_log = await pool.fetch("SELECT * FROM config.email_log WHERE raw_sha256 = $1", live["raw_sha256"])
        live_outcomes = await pool.fetch("SELECT * FROM tracker.outcomes WHERE raw_sha256 = $1", live["raw_sha256"])

        await clean_up(pool)

        # Skipped mail: no raw blob, no fetcher record, no email log row, no dedupe key.
        left = {r["sha256"] for r in await pool.fetch("SELECT sha256 FROM blobs.blobs")}
        assert not skipped_raw & left
        kept = {r["sha256"] for r in await pool.fetch("SELECT sha256 FROM tracker.blob_references")}
        assert left == kept | {live["raw_sha256"]}
        assert [dict(r) for r in await pool.fetch("SELECT * FROM fetcher.messages")] == [dict(live)]
        assert await pool.fetchval("SELECT count(*) FROM fetcher.fetch_attempts") == 0
        assert await pool.fetch("SELECT * FROM config.email_log") == live_log
        assert await pool.fetch("SELECT * FROM tracker.outcomes") == live_outcomes
        # The issue: unchanged, both messages, attachments byte-identical.
        issue = api.get(f"/api/v1/issues/{issue_number}")
        assert issue == issue_before
        attachments = [a for m in issue["messages"] for a in m["attachments"]]
        downloads = {a["filename"]: api.http.get(f"/api/v1/attachments/{a['id']}").content for a in attachments}
        assert downloads == {"invoice.pdf": invoice, "photo.pdf": photo}
        for m in await pool.fetch("SELECT raw_sha256 FROM tracker.messages"):
            content = await pool.fetchval("SELECT content FROM blobs.blobs WHERE sha256 = $1", m["raw_sha256"])
            assert hashlib.sha256(content).hexdigest() == m["raw_sha256"]

        # Re-fetch after the prune: the folder is rebuilt (new UIDVALIDITY) with the issue's mail in it.
        # The fetcher's records and the dedupe keys of that mail are gone; its Message-IDs on the issue
        # still make both copies duplicates.
        support.delete_folder("Support")
        support.create_folder("Support")
        support.append(new, folder="Support")
        support.append(reply, folder="Support")
        again = await_rows(2)
        assert [row["outcome"] for row in again] == ["duplicate", "duplicate"]
        assert {row["issue_number"] for row in again} == {issue_number}
        assert api.get(f"/api/v1/issues/{issue_number}") == issue_before
        assert await pool.fetchval("SELECT count(*) FROM tracker.issues") == 1
    finally:
        await pool.close()

    # The services run their own cleanups (at start, with the deployment's retentions of days): each
    # logged a run and counted it on /metrics.
    for name, counted in (
        ("config-api", "config.email_log"),
        ("fetcher", "fetcher.messages"),
        ("ingestor", "tracker.outcomes"),
    ):
        assert '"message": "cleanup run"' in stack.service(name).log(), name
        metrics = httpx.get(f"{stack.service(name).http_url}/metrics", timeout=10).text
        assert 'intake_cleanup_runs_total{outcome="ok"} 1.0' in metrics, name
        assert f'intake_cleanup_deleted_rows_total{{table="{counted}"}} 0.0' in metrics, name


async def _wait(check: Any, what: str) -> None:
    deadline = time.monotonic() + TIMEOUT
    while not await check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.2)
