"""The worked examples in shared's docstrings are tests too."""

from __future__ import annotations

import doctest
from types import ModuleType

import pytest

from intake.shared import (
    batched_events,
    bus,
    dead_letters,
    encoded_words,
    imap_responses,
    imap_utf7,
    logging,
    metrics,
    probes,
    settlements,
)

MODULES = [
    batched_events,
    bus,
    dead_letters,
    encoded_words,
    imap_responses,
    imap_utf7,
    logging,
    metrics,
    probes,
    settlements,
]


@pytest.mark.parametrize("module", MODULES, ids=lambda m: m.__name__)
def test_docstring_examples(module: ModuleType) -> None:
    result = doctest.testmod(module)
    assert result.attempted > 0
    assert result.failed == 0
