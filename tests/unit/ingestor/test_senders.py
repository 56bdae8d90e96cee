"""Table-driven tests of senders.ignored_sender: whole addresses, domains, fragments, and near misses."""

from __future__ import annotations

import pytest

from intake.ingestor.senders import ignored_sender

CASES = [
    # From address, ignored-senders entries, the entry expected to match (None: not ignored)
    ("spam@spamdomain.com", ["spam@spamdomain.com"], "spam@spamdomain.com"),
    ("Spam@SpamDomain.COM", ["spam@spamdomain.com"], "spam@spamdomain.com"),
    ("spam@spamdomain.com", ["SPAM@spamdomain.com"], "SPAM@spamdomain.com"),
    ("spam@spamdomain.com", ["  spam@spamdomain.com  "], "  spam@spamdomain.com  "),
    ("bob@spamdomain.com", ["@spamdomain.com"], "@spamdomain.com"),
    ("BOB@SPAMDOMAIN.COM", ["@SpamDomain.com"], "@SpamDomain.com"),
    ("noreply@shop.example", ["noreply"], "noreply"),
    ("bob@mail.spamdomain.com", [".spamdomain.com"], ".spamdomain.com"),
    ("bob@x.example", ["alice@x.example", "@y.example", "bob@"], "bob@"),
    ("bob@x.example", ["@y.example", "@x.example"], "@x.example"),
    # near misses
    ("bob@spamdomain.community", ["@spamdomain.com"], None),
    ("bob@spamdomain.com.evil", ["@spamdomain.com"], None),
    ("bob@mail.spamdomain.com", ["@spamdomain.com"], None),
    ("xspam@spamdomain.com", ["spam@spamdomain.com"], None),
    ("spam@spamdomain.com.au", ["spam@spamdomain.com"], None),
    ("alice@example.com", ["@spamdomain.com", "noreply"], None),
    ("alice@example.com", [], None),
    ("alice@example.com", ["", "   "], None),
    (None, ["@spamdomain.com"], None),
    ("", ["noreply"], None),
]


@pytest.mark.parametrize(("address", "entries", "expected"), CASES)
def test_ignored_sender(address: str | None, entries: list[str], expected: str | None) -> None:
    found = ignored_sender(address, entries)
    assert (found.entry if found else None) == expected


def test_reason_names_the_entry_and_the_address() -> None:
    found = ignored_sender("Bob@SpamDomain.com", ["alice@example.com", " @SpamDomain.com "])
    assert found is not None
    assert found.reason == "sender bob@spamdomain.com matches the ignored sender @SpamDomain.com"


def test_first_matching_entry_wins() -> None:
    found = ignored_sender("noreply@spamdomain.com", ["noreply", "@spamdomain.com"])
    assert found is not None
    assert found.entry == "noreply"
