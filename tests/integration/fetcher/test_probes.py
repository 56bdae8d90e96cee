"""`intake-fetcher`'s probe listener as a process: /healthz, /readyz and /metrics, and /readyz following
PostgreSQL away (a TCP proxy cut) and back while /healthz stays 200."""

from __future__ import annotations

import asyncio
from pathlib import Path
from urllib.parse import urlsplit

from tests.support.probes import sample, through, wait_for_status
from tests.support.processes import ServiceProcess, make_env
from tests.support.tcp_proxy import TcpProxy


async def test_probes_follow_the_database_and_metrics_are_served(
    database_url: str, amqp_url: str, secret_key: str, tmp_path: Path
) -> None:
    target = urlsplit(database_url)
    proxy = await TcpProxy(target.hostname or "127.0.0.1", target.port or 5432).start()
    env = make_env(database_url=through(proxy, database_url), amqp_url=amqp_url, secret_key=secret_key)
    fetcher = ServiceProcess("fetcher", env, tmp_path / "fetcher.log").start()
    try:
        base = fetcher.http_url
        ready = await wait_for_status(f"{base}/readyz", 200, explain=fetcher.log())
        assert ready.json() == {"status": "ready", "checks": {"database": "ok", "broker": "ok"}}
        metrics = (await wait_for_status(f"{base}/metrics", 200)).text
        assert sample(metrics, "intake_build_info", service="fetcher", version="0.1.0") == 1
        assert sample(metrics, "intake_fetcher_leases_held") == 0

        await proxy.cut()
        not_ready = await wait_for_status(f"{base}/readyz", 503, explain=fetcher.log())
        assert not_ready.json()["checks"] == {"database": "unreachable", "broker": "ok"}
        await wait_for_status(f"{base}/healthz", 200)

        await proxy.restore()
        await wait_for_status(f"{base}/readyz", 200, explain=fetcher.log())
    finally:
        # Stopped from a thread: the proxy runs on this event loop and the stop goes through it.
        status = await asyncio.to_thread(fetcher.stop)
        await proxy.stop()
    assert status == 0, fetcher.log()
