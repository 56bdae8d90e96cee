"""A message in a real IMAP mailbox becomes an issue, through fetcher, RabbitMQ, ingestor and config-api.

The three services run as real processes; the inbox is created through the API and points at the
Dovecot fixture; messages are APPENDed over IMAP, and everything is checked through the API and IMAP.
"""

from __future__ import annotations

import hashlib
from typing import Any

from tests.e2e.messages import PDF, message
from tests.support.api import Api
from tests.support.dovecot import Dovecot
from tests.support.processes import Stack, wait_until

FINAL_TIMEOUT = 60.0


def final_rows(api: Api, inbox_id: int, count: int) -> list[dict[str, Any]] | None:
    rows = api.email_log(inbox_id)
    done = [r for r in rows if r["outcome"] != "pending"]
    return rows if len(rows) == count and len(done) == count else None


def test_new_reply_and_unknown_number(stack: Stack, api: Api, dovecot: Dovecot) -> None:
    mailbox = dovecot.new_user("skeleton")
    inbox = api.create_inbox(dovecot, mailbox)
    assert inbox["password_set"] is True
    assert "password" not in inbox
    stack.start("fetcher", "ingestor")

    raw_a, message_id_a = message("Printer on fire", "It smokes.", attachment=("manual.pdf", PDF))
    uid_a = mailbox.append(raw_a)
    rows = wait_until(lambda: final_rows(api, inbox["id"], 1), timeout=FINAL_TIMEOUT, what="(a)", explain=stack.logs)
    assert rows[0]["outcome"] == "issue_created", rows
    number = rows[0]["issue_number"]

    raw_b, _ = message(f"Re: Printer on fire [#{number}]", "Still smoking.", in_reply_to=message_id_a)
    raw_c, _ = message("Invoice question [#999999]", "Which invoice?")
    uid_b = mailbox.append(raw_b)
    uid_c = mailbox.append(raw_c)
    rows = wait_until(
        lambda: final_rows(api, inbox["id"], 3), timeout=FINAL_TIMEOUT, what="(b), (c)", explain=stack.logs
    )

    by_uid = {row["uid"]: row for row in rows}
    assert by_uid[uid_a]["outcome"] == "issue_created"
    assert by_uid[uid_b]["outcome"] == "issue_updated"
    assert by_uid[uid_b]["issue_number"] == number
    assert by_uid[uid_c]["outcome"] == "issue_created"
    assert by_uid[uid_c]["issue_number"] != number
    assert by_uid[uid_a]["message_id"] == message_id_a
    assert by_uid[uid_a]["subject"] == "Printer on fire"

    issues = api.get("/api/v1/issues")["items"]
    assert sorted(i["number"] for i in issues) == sorted([number, by_uid[uid_c]["issue_number"]])

    first = api.get(f"/api/v1/issues/{number}")
    assert first["title"] == "Printer on fire"
    assert first["requester"]["email"] == "customer@example.org"
    assert [m["subject"] for m in first["messages"]] == ["Printer on fire", f"Re: Printer on fire [#{number}]"]
    (attachment,) = first["messages"][0]["attachments"]
    assert attachment["filename"] == "manual.pdf"
    assert attachment["sha256"] == hashlib.sha256(PDF).hexdigest()
    download = api.http.get(f"/api/v1/attachments/{attachment['id']}")
    assert download.status_code == 200
    assert download.content == PDF

    third = api.get(f"/api/v1/issues/{by_uid[uid_c]['issue_number']}")
    assert third["title"] == "Invoice question [#999999]"
    assert len(third["messages"]) == 1

    for uid in (uid_a, uid_b, uid_c):
        wait_until(
            lambda uid=uid: "\\Seen" in (mailbox.flags(uid) or set()),
            timeout=FINAL_TIMEOUT,
            what=f"\\Seen on UID {uid}",
            explain=stack.logs,
        )


def test_delete_action_removes_only_processed_messages(stack: Stack, api: Api, dovecot: Dovecot) -> None:
    mailbox = dovecot.new_user("deleter")
    inbox = api.create_inbox(dovecot, mailbox, processed_action="delete")
    stack.start("fetcher", "ingestor")

    raw, _ = message("Please delete me after filing", "Thanks")
    uid = mailbox.append(raw)
    rows = wait_until(
        lambda: final_rows(api, inbox["id"], 1), timeout=FINAL_TIMEOUT, what="outcome", explain=stack.logs
    )
    assert rows[0]["outcome"] == "issue_created"
    wait_until(lambda: uid not in mailbox.uids(), timeout=FINAL_TIMEOUT, what="message expunged", explain=stack.logs)
    issue = api.get(f"/api/v1/issues/{rows[0]['issue_number']}")
    assert issue["messages"][0]["body_text"].strip() == "Thanks"
