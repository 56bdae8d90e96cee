"""`intake-fetcher`'s and `intake-ingestor`'s probe listeners as processes: /healthz, /readyz and /metrics,
and /readyz following PostgreSQL away (a TCP proxy cut) and back while /healthz stays 200.

One test for both services: they serve the same listener (`intake.shared.probe_listener`); each case
names one metric of its own that must be served at 0 from the start."""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from tests.support.probes import sample, through, wait_for_status
from tests.support.processes import ServiceProcess, make_env
from tests.support.tcp_proxy import TcpProxy


@pytest.mark.parametrize(
    ("service", "own_metric"),
    [("fetcher", "intake_fetcher_leases_held"), ("ingestor", "intake_delivery_latency_seconds_count")],
)
async def test_probes_follow_the_database_and_metrics_are_served(
    service: str, own_metric: str, database_url: str, amqp_url: str, secret_key: str, tmp_path: Path
) -> None:
    target = urlsplit(database_url)
    proxy = await TcpProxy(target.hostname or "127.0.0.1", target.port or 5432).start()
    env = make_env(database_url=through(proxy, database_url), amqp_url=amqp_url, secret_key=secret_key)
    process = ServiceProcess(service, env, tmp_path / f"{service}.log").start()
    try:
        base = process.http_url
        ready = await wait_for_status(f"{base}/readyz", 200, explain=process.log())
        assert ready.json() == {"status": "ready", "checks": {"database": "ok", "broker": "ok"}}
        metrics = (await wait_for_status(f"{base}/metrics", 200)).text
        assert sample(metrics, "intake_build_info", service=service, version="0.1.0") == 1
        assert sample(metrics, own_metric) == 0

        await proxy.cut()
        not_ready = await wait_for_status(f"{base}/readyz", 503, explain=process.log())
        assert not_ready.json()["checks"] == {"database": "unreachable", "broker": "ok"}
        await wait_for_status(f"{base}/healthz", 200)

        await proxy.restore()
        await wait_for_status(f"{base}/readyz", 200, explain=process.log())
    finally:
        # Stopped from a thread: the proxy runs on this event loop and the stop goes through it.
        status = await asyncio.to_thread(process.stop)
        await proxy.stop()
    assert status == 0, process.log()


@pytest.mark.parametrize("service", ["fetcher", "ingestor"])
def test_a_taken_listener_port_stops_the_service_with_one_line_naming_it(
    service: str, database_url: str, amqp_url: str, secret_key: str, tmp_path: Path
) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        env = make_env(
            database_url=database_url, amqp_url=amqp_url, secret_key=secret_key, **{f"{service}_http_port": str(port)}
        )
        process = ServiceProcess(service, env, tmp_path / f"{service}.log").start()
        assert process.process is not None
        try:
            status = process.process.wait(timeout=60)
        finally:
            process.stop()
    assert status != 0, process.log()
    assert f"intake-{service}: the HTTP listener could not start on 127.0.0.1:{port}" in process.log()
