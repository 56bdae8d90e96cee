"""Modified UTF-7 mailbox names (RFC 3501 §5.1.3): round trips and the malformed names refused."""

from __future__ import annotations

import pytest

from intake.shared.imap_utf7 import decode, encode

NAMES = ["INBOX", "A&B", "&", "&&-", "Entwürfe", "台北", "Кириллица/Входящие", "😀 emoji", "~peter/日本語", " ", "a-b"]


@pytest.mark.parametrize("name", NAMES)
def test_round_trip(name: str) -> None:
    encoded = encode(name)
    assert encoded.isascii()
    assert decode(encoded) == name


@pytest.mark.parametrize(
    "encoded",
    ["&Jjo!", "&AGE-", "tab\there", "Entw&APw", "&ZeVnLIqe", "bad&*-"],
    ids=["unterminated", "shifted-ascii", "control-char", "no-dash", "no-end", "bad-base64"],
)
def test_malformed_names_are_refused(encoded: str) -> None:
    with pytest.raises(ValueError, match=r"modified UTF-7|sequence"):
        decode(encoded)


def test_rfc_3501_example() -> None:
    assert decode("~peter/mail/&U,BTFw-/&ZeVnLIqe-") == "~peter/mail/台北/日本語"
    assert encode("~peter/mail/台北/日本語") == "~peter/mail/&U,BTFw-/&ZeVnLIqe-"
