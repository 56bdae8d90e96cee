"""A service SIGTERMed while it still waits for PostgreSQL stops at once and cleanly (exit 0)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.processes import ServiceProcess, free_port, make_env, wait_until


@pytest.mark.parametrize("service", ["fetcher", "ingestor", "config-api"])
def test_sigterm_while_waiting_for_the_database(service: str, amqp_url: str, secret_key: str, tmp_path: Path) -> None:
    # Nothing listens on this port: the service keeps retrying the database, as during a compose start.
    unreachable = f"postgresql://postgres@127.0.0.1:{free_port()}/intake"
    env = make_env(
        database_url=unreachable,
        amqp_url=amqp_url,
        secret_key=secret_key,
        admin_token="t" * 32,
        api_port=str(free_port()),
    )
    process = ServiceProcess(service, env, tmp_path / f"{service}.log").start()
    try:
        wait_until(
            lambda: "database not reachable yet" in process.log(),
            timeout=60,
            what=f"{service} waiting for the database",
            explain=process.log,
        )
    finally:
        status = process.stop(timeout=10)
    assert status == 0, process.log()
    assert "stopped while starting" in process.log()
    assert '"level": "error"' not in process.log(), process.log()
