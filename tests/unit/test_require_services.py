"""`--require-services`: a missing PostgreSQL or RabbitMQ skips the tests that need it, or fails them."""

from __future__ import annotations

import pytest

from tests.conftest import _missing


class Options:
    """The one option `_missing` reads, as pytest's config answers it."""

    def __init__(self, require_services: bool) -> None:
        self.require_services = require_services

    def getoption(self, name: str) -> bool:
        assert name == "require_services"
        return self.require_services


def test_a_missing_service_skips_by_default() -> None:
    with pytest.raises(pytest.skip.Exception, match="no RabbitMQ"):
        _missing(Options(False), "no RabbitMQ")


def test_a_missing_service_fails_under_require_services() -> None:
    with pytest.raises(pytest.fail.Exception, match=r"no PostgreSQL \(--require-services\)"):
        _missing(Options(True), "no PostgreSQL")
