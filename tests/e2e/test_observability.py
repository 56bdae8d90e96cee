"""What an operator sees of the running stack: /metrics, /healthz and /readyz of all three services, and
one correlation id that follows a message through every service's log (issue 12).

The three services run as processes; 50 messages go through Dovecot; the metrics must agree with the
email log. Then the inbox's password is changed to a wrong one through the API and its state turns to
`error`. A second test cuts PostgreSQL away from the services (a loopback TCP proxy in a thread of its
own) and watches every /readyz turn 503 and back while /healthz stays 200.
"""

from __future__ import annotations

import asyncio
import threading
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from tests.e2e.messages import message
from tests.support.api import Api
from tests.support.dovecot import Dovecot
from tests.support.probes import sample, samples, status_of, through
from tests.support.processes import Stack, free_port, make_env, wait_until
from tests.support.tcp_proxy import TcpProxy

MESSAGES = 50
TIMEOUT = 120.0
SERVICES = ("config-api", "fetcher", "ingestor")


def metrics_of(stack: Stack, name: str) -> str:
    response = httpx.get(f"{stack.service(name).http_url}/metrics", timeout=10)
    assert response.status_code == 200, response.text
    return response.text


def processed_by_outcome(text: str, inbox: str) -> dict[str, float]:
    return {
        dict(labels)["outcome"]: value
        for (name, labels), value in samples(text).items()
        if name == "intake_messages_processed_total" and dict(labels)["inbox"] == inbox and value
    }


def final_rows(api: Api, inbox_id: int) -> list[dict[str, Any]] | None:
    rows = api.email_log(inbox_id)
    return rows if len(rows) == MESSAGES and all(row["outcome"] != "pending" for row in rows) else None


def test_metrics_agree_with_the_email_log_and_follow_the_inbox_state(stack: Stack, api: Api, dovecot: Dovecot) -> None:
    mailbox = dovecot.new_user("metrics")
    inbox = api.create_inbox(dovecot, mailbox)
    inbox_label = str(inbox["id"])
    stack.start("fetcher", "ingestor")
    for name in SERVICES:
        wait_until(
            lambda name=name: status_of(f"{stack.service(name).http_url}/readyz") == 200,
            timeout=TIMEOUT,
            what=f"{name} /readyz",
            explain=stack.logs,
        )
        assert status_of(f"{stack.service(name).http_url}/healthz") == 200

    mailbox.append_many([message(f"Request {n}", f"Please help with {n}.")[0] for n in range(MESSAGES)])
    rows = wait_until(lambda: final_rows(api, inbox["id"]), timeout=TIMEOUT, what="50 outcomes", explain=stack.logs)
    logged = dict(Counter(row["outcome"] for row in rows))

    # The ingestor counts a message once its outcome is committed and acked: a moment after the log has it.
    counted = wait_until(
        lambda: (found := processed_by_outcome(metrics_of(stack, "ingestor"), inbox_label)) == logged and found,
        timeout=30,
        what=f"intake_messages_processed_total to match the email log {logged}",
        explain=lambda: metrics_of(stack, "ingestor"),
    )
    assert sum(counted.values()) == MESSAGES
    ingestor = metrics_of(stack, "ingestor")
    assert sample(ingestor, "intake_delivery_latency_seconds_count") == MESSAGES
    assert sample(ingestor, "intake_messages_processed_total", inbox=inbox_label, outcome="failed") == 0

    fetcher = metrics_of(stack, "fetcher")
    assert sample(fetcher, "intake_messages_fetched_total", inbox=inbox_label) == MESSAGES
    assert sample(fetcher, "intake_fetcher_leases_held") == 1
    assert sample(fetcher, "intake_fetcher_lease_held", inbox=inbox_label) == 1
    assert sample(fetcher, "intake_fetcher_lease_acquisitions_total", inbox=inbox_label) == 1
    assert (sample(fetcher, "intake_fetcher_last_cycle_timestamp_seconds", inbox=inbox_label) or 0) > 0

    wait_until(
        lambda: sample(metrics_of(stack, "config-api"), "intake_inbox_state", inbox=inbox_label, state="ok") == 1,
        timeout=30,
        what="intake_inbox_state ok",
        explain=lambda: metrics_of(stack, "config-api"),
    )

    # One message's correlation id, from the log detail, is in every service's log.
    detail = api.get(f"/api/v1/email-log/{rows[0]['id']}")
    correlation = detail["correlation_id"]
    assert correlation, detail
    for name in SERVICES:
        assert correlation in stack.service(name).log(), f"{correlation} not in the {name} log"

    response = api.http.patch(f"/api/v1/inboxes/{inbox['id']}", json={"password": "not-the-password"})
    assert response.status_code == 200, response.text
    wait_until(
        lambda: sample(metrics_of(stack, "config-api"), "intake_inbox_state", inbox=inbox_label, state="error") == 1,
        timeout=TIMEOUT,
        what="intake_inbox_state error after a wrong password",
        explain=stack.logs,
    )
    config_api = metrics_of(stack, "config-api")
    assert sample(config_api, "intake_inbox_state", inbox=inbox_label, state="ok") == 0
    assert (sample(metrics_of(stack, "fetcher"), "intake_fetch_errors_total", inbox=inbox_label, kind="auth") or 0) >= 1


class ThreadedProxy:
    """tests/support/tcp_proxy.py on an event loop of its own thread, for a synchronous test."""

    def __init__(self, host: str, port: int) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()
        self.proxy = self._run(TcpProxy(host, port).start())

    def _run(self, coroutine: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(timeout=30)

    def cut(self) -> None:
        self._run(self.proxy.cut())

    def restore(self) -> None:
        self._run(self.proxy.restore())

    def close(self) -> None:
        self._run(self.proxy.stop())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)


@pytest.fixture
def proxied_stack(
    database_url: str, amqp_url: str, secret_key: str, admin_token: str, tmp_path: Path
) -> Iterator[tuple[Stack, ThreadedProxy]]:
    """The three services reaching PostgreSQL only through a proxy the test can cut."""
    target = urlsplit(database_url)
    proxy = ThreadedProxy(target.hostname or "127.0.0.1", target.port or 5432)
    env = make_env(
        database_url=through(proxy.proxy, database_url),
        amqp_url=amqp_url,
        secret_key=secret_key,
        admin_token=admin_token,
        api_host="127.0.0.1",
        api_port=str(free_port()),
    )
    stack = Stack(env, tmp_path)
    try:
        yield stack, proxy
    finally:
        statuses = stack.stop_all()
        proxy.close()
        assert all(code == 0 for code in statuses.values()), f"unclean stop {statuses}\n{stack.logs()}"


def test_readyz_follows_postgresql_away_and_back_while_healthz_stays_up(
    proxied_stack: tuple[Stack, ThreadedProxy],
) -> None:
    stack, proxy = proxied_stack
    stack.start(*SERVICES)

    def all_answer(path: str, status: int) -> bool:
        return all(status_of(f"{stack.service(name).http_url}{path}") == status for name in SERVICES)

    wait_until(lambda: all_answer("/readyz", 200), timeout=TIMEOUT, what="every /readyz 200", explain=stack.logs)
    proxy.cut()
    wait_until(lambda: all_answer("/readyz", 503), timeout=TIMEOUT, what="every /readyz 503", explain=stack.logs)
    assert all_answer("/healthz", 200)
    for name in SERVICES:
        body = httpx.get(f"{stack.service(name).http_url}/readyz", timeout=10).json()
        assert body["checks"]["database"] == "unreachable", (name, body)
        assert body["checks"]["broker"] == "ok", (name, body)
    proxy.restore()
    wait_until(lambda: all_answer("/readyz", 200), timeout=TIMEOUT, what="every /readyz 200 again", explain=stack.logs)
