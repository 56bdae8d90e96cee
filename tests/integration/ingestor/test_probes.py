"""`intake-ingestor`'s probe listener as a process: /healthz, /readyz and /metrics, and /readyz following
PostgreSQL away (a TCP proxy cut) and back while /healthz stays 200."""

from __future__ import annotations

import asyncio
from pathlib import Path
from urllib.parse import urlsplit

from tests.support.probes import sample, through, wait_for_status
from tests.support.processes import ServiceProcess, make_env
from tests.support.tcp_proxy import TcpProxy


async def test_probes_follow_the_database_and_metrics_are_served(
    database_url: str, amqp_url: str, tmp_path: Path
) -> None:
    target = urlsplit(database_url)
    proxy = await TcpProxy(target.hostname or "127.0.0.1", target.port or 5432).start()
    ingestor = ServiceProcess(
        "ingestor", make_env(database_url=through(proxy, database_url), amqp_url=amqp_url), tmp_path / "ingestor.log"
    ).start()
    try:
        base = ingestor.http_url
        ready = await wait_for_status(f"{base}/readyz", 200, explain=ingestor.log())
        assert ready.json() == {"status": "ready", "checks": {"database": "ok", "broker": "ok"}}
        metrics = (await wait_for_status(f"{base}/metrics", 200)).text
        assert sample(metrics, "intake_build_info", service="ingestor", version="0.1.0") == 1
        assert sample(metrics, "intake_delivery_latency_seconds_count") == 0

        await proxy.cut()
        not_ready = await wait_for_status(f"{base}/readyz", 503, explain=ingestor.log())
        assert not_ready.json()["checks"] == {"database": "unreachable", "broker": "ok"}
        await wait_for_status(f"{base}/healthz", 200)

        await proxy.restore()
        await wait_for_status(f"{base}/readyz", 200, explain=ingestor.log())
    finally:
        # Stopped from a thread: the proxy runs on this event loop and the stop goes through it.
        status = await asyncio.to_thread(ingestor.stop)
        await proxy.stop()
    assert status == 0, ingestor.log()
