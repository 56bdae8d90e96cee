"""Asking a running service's /healthz, /readyz and /metrics from a test, and reading metric samples."""

from __future__ import annotations

import asyncio
import time
from urllib.parse import urlsplit, urlunsplit

import httpx
from prometheus_client.parser import text_string_to_metric_families

from tests.support.tcp_proxy import TcpProxy


def status_of(url: str) -> int | None:
    """The status code of GET `url`, or None while nothing answers."""
    try:
        return httpx.get(url, timeout=5).status_code
    except httpx.TransportError:
        return None


async def wait_for_status(url: str, status: int, *, timeout: float = 60.0, explain: str = "") -> httpx.Response:
    """GET `url` until it answers `status`; fail with the last answer after `timeout`."""
    deadline = time.monotonic() + timeout
    last: object = None
    async with httpx.AsyncClient(timeout=5) as http:
        while time.monotonic() < deadline:
            try:
                response = await http.get(url)
                if response.status_code == status:
                    return response
                last = (response.status_code, response.text[:300])
            except httpx.TransportError as error:
                last = error
            await asyncio.sleep(0.2)
    raise AssertionError(f"{url} did not answer {status} within {timeout:.0f}s; last {last!r}\n{explain}")


def samples(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """Every sample of a /metrics page by (name, labels)."""
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def sample(text: str, name: str, **labels: str) -> float | None:
    return samples(text).get((name, frozenset(labels.items())))


def through(proxy: TcpProxy, database_url: str) -> str:
    """`database_url` pointed at `proxy` instead of the server."""
    parts = urlsplit(database_url)
    netloc = parts.netloc.rsplit("@", 1)
    host = f"127.0.0.1:{proxy.port}"
    return urlunsplit(parts._replace(netloc=f"{netloc[0]}@{host}" if len(netloc) == 2 else host))
