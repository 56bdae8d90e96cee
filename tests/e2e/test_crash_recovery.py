"""The ingestor SIGKILLed while messages are fetched but not processed, then started again.

Nothing is lost and nothing is duplicated: every message ends with exactly one final outcome,
each thread is exactly one issue, and each message is on its issue once.
"""

from __future__ import annotations

from collections import Counter

from tests.e2e.messages import message
from tests.e2e.test_walking_skeleton import FINAL_TIMEOUT, final_rows
from tests.support.api import Api
from tests.support.dovecot import Dovecot
from tests.support.processes import Stack, wait_until

THREADS = 4
REPLIES_PER_THREAD = 3


def test_ingestor_killed_mid_run(stack: Stack, api: Api, dovecot: Dovecot) -> None:
    mailbox = dovecot.new_user("crash")
    inbox = api.create_inbox(dovecot, mailbox)
    stack.start("fetcher", "ingestor")

    # The first message of each thread, processed normally, gives each thread its issue number.
    numbers = []
    for thread in range(THREADS):
        raw, _ = message(f"Thread {thread}", f"Opening message {thread}")
        mailbox.append(raw)
    rows = wait_until(lambda: final_rows(api, inbox["id"], THREADS), timeout=FINAL_TIMEOUT, what="openers")
    numbers = {row["subject"]: row["issue_number"] for row in rows}

    # The ingestor dies; replies are fetched meanwhile and wait on the queue.
    stack.service("ingestor").kill()
    total = THREADS * (1 + REPLIES_PER_THREAD)
    for thread in range(THREADS):
        for reply in range(REPLIES_PER_THREAD):
            raw, _ = message(f"Re: Thread {thread} [#{numbers[f'Thread {thread}']}]", f"Reply {reply}")
            mailbox.append(raw)
    wait_until(
        lambda: len(api.email_log(inbox["id"])) == total,
        timeout=FINAL_TIMEOUT,
        what="every reply fetched while the ingestor is down",
        explain=stack.logs,
    )
    assert Counter(r["outcome"] for r in api.email_log(inbox["id"]))["pending"] == THREADS * REPLIES_PER_THREAD

    # Started again, killed again as soon as it has made progress, started once more.
    stack.service("ingestor").restart_and_wait()
    wait_until(
        lambda: Counter(r["outcome"] for r in api.email_log(inbox["id"]))["pending"] < THREADS * REPLIES_PER_THREAD,
        timeout=FINAL_TIMEOUT,
        what="some progress after the restart",
        explain=stack.logs,
    )
    stack.service("ingestor").kill()
    stack.service("ingestor").restart_and_wait()

    rows = wait_until(
        lambda: final_rows(api, inbox["id"], total), timeout=FINAL_TIMEOUT, what="all final", explain=stack.logs
    )
    outcomes = Counter(row["outcome"] for row in rows)
    assert outcomes == {"issue_created": THREADS, "issue_updated": THREADS * REPLIES_PER_THREAD}, outcomes
    assert len({(row["uidvalidity"], row["uid"]) for row in rows}) == total

    issues = api.get("/api/v1/issues", limit=200)["items"]
    assert len(issues) == THREADS
    for number in numbers.values():
        issue = api.get(f"/api/v1/issues/{number}")
        bodies = Counter(m["body_text"].strip() for m in issue["messages"])
        assert len(issue["messages"]) == 1 + REPLIES_PER_THREAD, issue["messages"]
        assert all(count == 1 for count in bodies.values()), bodies
