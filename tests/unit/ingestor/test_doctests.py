"""The worked examples in the pure modules' docstrings are true."""

from __future__ import annotations

import doctest
from types import ModuleType

import pytest

from intake.ingestor import (
    auto_generated,
    batching,
    decision,
    deliveries,
    filenames,
    handler,
    html_text,
    limits,
    matching,
    parsing,
    senders,
    tnef,
)


@pytest.mark.parametrize(
    "module",
    [
        auto_generated,
        batching,
        decision,
        deliveries,
        filenames,
        handler,
        html_text,
        limits,
        matching,
        parsing,
        senders,
        tnef,
    ],
    ids=lambda m: m.__name__,
)
def test_docstring_examples(module: ModuleType) -> None:
    result = doctest.testmod(module)
    assert result.attempted > 0
    assert result.failed == 0
