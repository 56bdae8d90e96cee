"""Every worked example in a docstring under `src/` is a test: each module of the four packages is run
through doctest (the `__main__` modules, which start a service when imported, aside)."""

from __future__ import annotations

import doctest
import importlib
import pkgutil
from types import ModuleType

import pytest

import intake.config_api
import intake.fetcher
import intake.ingestor
import intake.shared

PACKAGES: list[ModuleType] = [intake.shared, intake.fetcher, intake.ingestor, intake.config_api]


def module_names() -> list[str]:
    return [
        info.name
        for package in PACKAGES
        for info in pkgutil.walk_packages(package.__path__, f"{package.__name__}.")
        if info.name.rsplit(".", 1)[-1] != "__main__"
    ]


@pytest.mark.parametrize("name", module_names())
def test_docstring_examples(name: str) -> None:
    result = doctest.testmod(importlib.import_module(name))
    assert result.failed == 0


def test_the_examples_are_found() -> None:
    """Guards the walk itself: if it found no modules or no examples, the test above would pass empty."""
    finder = doctest.DocTestFinder()
    examples = sum(len(test.examples) for name in module_names() for test in finder.find(importlib.import_module(name)))
    assert examples >= 200
