"""`make send-sample`: APPEND the sample messages to the development mailbox that `make run` started.

The new request goes first; once Intake has filed it (seen in the email log), the reply is tagged with
that issue's number. Then it waits for every message's outcome and prints it. Needs `make run` running.
Run as `python -m deploy.local.send_sample` from the repository root (the Makefile does).
"""

from __future__ import annotations

import contextlib
import datetime
import imaplib
import os
import time
import urllib.parse
from typing import Any

from deploy.local.dev_mailbox import DevMailbox, DevMailboxError, call_api
from deploy.local.run import DEV_MAILBOX_DIR, ENV_FILE, api_base_url, load_env_file
from deploy.local.sample_mail import Sample, auto_reply, html_non_ascii, new_request, tagged_reply, with_attachment

WAIT_SECONDS = 60.0


def append(mailbox: DevMailbox, samples: list[Sample]) -> None:
    """APPEND each sample to INBOX, unread, over one plain IMAP connection on loopback."""
    try:
        conn = imaplib.IMAP4(mailbox.host, mailbox.port, timeout=30)
    except OSError as error:
        where = f"{mailbox.host}:{mailbox.port}"
        message = f"the development mailbox at {where} does not answer ({error}); is `make run` running?"
        raise DevMailboxError(message) from None
    try:
        conn.login(mailbox.username, mailbox.password)
        for sample in samples:
            typ, data = conn.append("INBOX", None, None, sample.raw)
            if typ != "OK":
                raise DevMailboxError(f"APPEND of {sample.shows} was refused: {data!r}")
    except imaplib.IMAP4.error as error:
        raise DevMailboxError(f"the development mailbox refused us: {error}") from None
    finally:
        with contextlib.suppress(imaplib.IMAP4.error, OSError):
            conn.logout()


def log_rows(base_url: str, token: str, samples: list[Sample]) -> dict[str, dict[str, Any]]:
    """The email-log rows of `samples` that have an outcome, by Message-ID (the newest 200 rows are looked at)."""
    wanted = {sample.message_id for sample in samples}
    query = urllib.parse.urlencode({"limit": 200})
    try:
        page = call_api(base_url, token, "GET", f"/api/v1/email-log?{query}")
    except DevMailboxError:
        return {}
    return {
        row["message_id"]: row for row in page["items"] if row["message_id"] in wanted and row["outcome"] != "pending"
    }


def wait_for(base_url: str, token: str, samples: list[Sample]) -> dict[str, dict[str, Any]]:
    deadline = time.monotonic() + WAIT_SECONDS
    rows = log_rows(base_url, token, samples)
    while len(rows) < len(samples) and time.monotonic() < deadline:
        time.sleep(0.5)
        rows = log_rows(base_url, token, samples)
    return rows


def describe(row: dict[str, Any] | None) -> str:
    if row is None:
        return f"no outcome after {WAIT_SECONDS:.0f}s (see the console's Email log)"
    number = f" #{row['issue_number']}" if row.get("issue_number") else ""
    reason = f" ({row['reason']})" if row.get("reason") else ""
    return f"{row['outcome']}{number}{reason}"


def main() -> None:
    env = load_env_file() if ENV_FILE.exists() else dict(os.environ)
    base_url, token = api_base_url(env), env.get("INTAKE_ADMIN_TOKEN", "")
    try:
        mailbox = DevMailbox.load(DEV_MAILBOX_DIR)
        now = datetime.datetime.now(datetime.UTC)
        first = new_request(now)
        append(mailbox, [first])
        print(f"send-sample: sent {first.shows} to {mailbox.email}; waiting for its issue number", flush=True)
        row = wait_for(base_url, token, [first]).get(first.message_id)
        rest = [
            tagged_reply(first, row.get("issue_number") if row else None, now),
            with_attachment(now),
            auto_reply(now),
            html_non_ascii(now),
        ]
        append(mailbox, rest)
    except DevMailboxError as error:
        raise SystemExit(f"send-sample: {error}") from None
    rows = wait_for(base_url, token, rest) | ({first.message_id: row} if row else {})
    print(f"send-sample: {1 + len(rest)} messages; open {base_url}/email-log to see them:")
    for sample in [first, *rest]:
        print(f"  {sample.shows:<55} → {describe(rows.get(sample.message_id))}")


if __name__ == "__main__":
    main()
