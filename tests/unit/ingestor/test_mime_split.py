"""mime_split gives exactly the stdlib feed parser's `compat32` tree, or gives up (NotSplittable)."""

from __future__ import annotations

from email import message_from_bytes, policy
from email.message import Message
from pathlib import Path

import pytest

from bench.realistic_mail import messages
from intake.ingestor.mime_split import NotSplittable, split_message
from tests.support.corpus import SKIP_REASON, corpus_dir, corpus_messages

CORPUS = corpus_messages()
CORPUS_ROOT = corpus_dir() or Path()


def tree(message: Message) -> object:
    """Every header field as stored and every payload string, part by part."""
    if message.is_multipart():
        return (message.items(), [tree(part) for part in message.get_payload()])
    return (message.items(), message.get_payload())


def same_or_refused(raw: bytes) -> bool:
    """True when split; False when refused. Fails when split differently from the feed parser."""
    try:
        split = split_message(raw)
    except NotSplittable:
        return False
    assert tree(split) == tree(message_from_bytes(raw, policy=policy.compat32))
    return True


@pytest.mark.skipif(not CORPUS, reason=SKIP_REASON)
def test_every_corpus_message_is_split_as_the_feed_parser_reads_it_or_refused() -> None:
    split = [path for path in CORPUS if same_or_refused(path.read_bytes())]
    assert len(split) > len(CORPUS) / 2  # the common forms are split, not refused


def test_generated_mail_is_always_split_and_as_the_feed_parser_reads_it() -> None:
    for kind, count in (("small", 500), ("medium", 100)):
        for raw in messages(kind, count):
            assert same_or_refused(raw)


MULTIPART = (
    b'Content-Type: multipart/mixed; boundary="b"\r\n\r\npreamble\r\n--b\r\nContent-Type: text/plain\r\n\r\none\r\n'
)


@pytest.mark.parametrize(
    "raw",
    [
        MULTIPART + b"--b--\r\n",
        MULTIPART + b"--b  \r\n\r\ntwo, no headers\r\n--b--",
        MULTIPART + b"--bb\r\n--b--\r\nepilogue",
        MULTIPART + b"--b\r\n--b\r\nX: y\r\n\r\nafter an empty part\r\n--b--\r\n",
        MULTIPART,  # no close delimiter
        b'Content-Type: multipart/mixed; boundary="b"\r\n\r\n--b--\r\n',  # no part
        b"Content-Type: multipart/mixed\r\n\r\nno boundary\r\n",
        b"Subject: a\r\n folded\r\n\tagain\r\nX: 1\r\n\r\nbody\r\n",
        b"Subject: bare\rCR\r\n\r\nbody",
        b"From someone\r\nSubject: x\r\n\r\nbody",
        b"Subject: x\r\nnot a header\r\n\r\nbody",
        b" continuation first\r\nSubject: x\r\n\r\nbody",
        b"Subject: only headers\r\n",
        b"\r\nno headers at all",
        b"Subject: LF only\n\nbody\n",
        b'Content-Type: multipart/digest; boundary="d"\r\n\r\n--d\r\n\r\nx\r\n--d--\r\n',
        b"Content-Type: message/rfc822\r\n\r\nSubject: inner\r\n\r\nx\r\n",
    ],
)
def test_edge_cases_are_split_alike_or_refused(raw: bytes) -> None:
    same_or_refused(raw)
