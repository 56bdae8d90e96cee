"""threads: the root Message-ID of a thread and the advisory-lock keys."""

from __future__ import annotations

from dataclasses import replace

from intake.ingestor.parsing import ParsedMessage
from intake.ingestor.threads import issue_lock_key, thread_lock_key, thread_root

BASE = ParsedMessage(
    message_id="<self@x>",
    in_reply_to=None,
    references=(),
    subject="",
    sender=None,
    to=(),
    cc=(),
    date=None,
    body_text="",
    body_html=None,
    attachments=(),
)


def test_root_is_first_reference() -> None:
    assert thread_root(replace(BASE, references=("<a@x>", "<b@x>"), in_reply_to="<b@x>")) == "<a@x>"


def test_root_is_in_reply_to_without_references() -> None:
    assert thread_root(replace(BASE, in_reply_to="<b@x>")) == "<b@x>"


def test_root_is_own_message_id_for_a_new_thread() -> None:
    assert thread_root(BASE) == "<self@x>"
    assert thread_root(replace(BASE, message_id=None)) is None


def test_lock_keys_are_signed_64_bit_and_distinct() -> None:
    keys = {
        issue_lock_key(1),
        issue_lock_key(2),
        thread_lock_key(1, "<a@x>", "0" * 64),
        thread_lock_key(2, "<a@x>", "0" * 64),
        thread_lock_key(1, None, "0" * 64),
        thread_lock_key(1, None, "1" * 64),
    }
    assert len(keys) == 6
    assert all(-(2**63) <= key < 2**63 for key in keys)
    assert thread_lock_key(1, "<a@x>", "0" * 64) == thread_lock_key(1, "<a@x>", "f" * 64)
