"""The email log end to end: a skipped message shown with its headers and raw bytes, then reprocessed after
the inbox's rule changed, through fetcher, ingestor and config-api as real processes.
"""

from __future__ import annotations

from typing import Any

from tests.e2e.messages import message
from tests.support.api import Api
from tests.support.dovecot import Dovecot
from tests.support.processes import Stack, wait_until

TIMEOUT = 60.0


def the_row(api: Api, inbox_id: int, outcome: str) -> dict[str, Any] | None:
    rows = api.email_log(inbox_id)
    return rows[0] if len(rows) == 1 and rows[0]["outcome"] == outcome else None


def test_an_ignored_message_is_reprocessed_after_the_rule_changed(stack: Stack, api: Api, dovecot: Dovecot) -> None:
    mailbox = dovecot.new_user("reprocess")
    inbox = api.create_inbox(dovecot, mailbox, ignored_senders=["@example.org"])
    stack.start("fetcher", "ingestor")
    raw, message_id = message("Printer on fire", "It smokes.")
    mailbox.append(raw)

    row = wait_until(
        lambda: the_row(api, inbox["id"], "ignored_sender"), timeout=TIMEOUT, what="ignored", explain=stack.logs
    )
    detail = api.get(f"/api/v1/email-log/{row['id']}")
    assert {"name": "Message-ID", "value": message_id} in detail["headers"]
    assert (detail["raw_state"], detail["reprocessable"]) == ("complete", True)
    download = api.http.get(f"/api/v1/email-log/{row['id']}/raw")
    assert download.status_code == 200
    assert download.content == raw.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")  # as IMAP stores it
    assert download.headers["content-type"] == "message/rfc822"

    patched = api.http.patch(f"/api/v1/inboxes/{inbox['id']}", json={"ignored_senders": []})
    assert patched.status_code == 200, patched.text
    response = api.http.post(f"/api/v1/email-log/{row['id']}/reprocess")
    assert response.status_code == 200, response.text
    assert response.json()["outcome"] == "pending"

    done = wait_until(
        lambda: the_row(api, inbox["id"], "issue_created"), timeout=TIMEOUT, what="reprocessed", explain=stack.logs
    )
    assert done["id"] == row["id"]
    issue = api.get(f"/api/v1/issues/{done['issue_number']}")
    assert issue["title"] == "Printer on fire"
    again = api.http.post(f"/api/v1/email-log/{row['id']}/reprocess")
    assert again.status_code == 409
