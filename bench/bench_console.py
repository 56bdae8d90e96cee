"""The web console at scale: the email log page's server time over 1,000,000 rows, and what a first page costs
a browser.

1. Fills `config.email_log` with 1,000,000 rows exactly as the email log bench does (one INSERT … SELECT
   generate_series; `bench_email_log.fill`), runs `intake-config-api` as a real process on it, signs in to
   the console like a browser, and times `GET /email-log` (the HTML page, limit 50, with its failed-rows
   count and inbox picker) for the same realistic filter cases: none, inbox, outcome, sender, subject text,
   time ranges, combinations, and a fifth page reached by following the page's own "Next page" link.
   Each case ROUNDS requests on a keep-alive connection, timed at the client on loopback: p50/p99.
2. In Debian's Chromium (Playwright), with an empty cache and a fresh context each, loads the first page of
   the inbox list, the email log and an issue (three messages, one attachment) and adds up what the network
   log says was transferred (headers and bodies of every finished request), and checks that no request went
   to any host but the console's own.

Creates its own database and RabbitMQ vhost and removes them afterwards.
Run: `make bench BENCH=console` (or `python -m bench.bench_console`).
"""

from __future__ import annotations

import asyncio
import html
import os
import random
import re
import secrets
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import asyncpg
import httpx

from bench.bench_email_log import CASES, LIMIT, ROWS, fill, percentile
from bench.bench_ingestor import backend_cpu_seconds, cpu_seconds
from bench.environment import Environment
from bench.report import write_section
from intake.shared.blobs import put_blob
from intake.shared.migrations import migrate, migrate_blobs
from intake.shared.secrets import SecretBox
from tests.support.browser import CHROMIUM, CHROMIUM_ARGS
from tests.support.processes import ServiceProcess, free_port, make_env, wait_until

ROUNDS = int(os.environ.get("BENCH_CONSOLE_ROUNDS", "40"))
TARGET_P99_MS = 100.0
TARGET_PAGE_BYTES = 150 * 1024
_NEXT_LINK = re.compile(r'href="(/email-log\?[^"]*cursor=[^"]*)"')


def signed_in_client(base_url: str, token: str) -> httpx.Client:
    """A keep-alive client holding a console session, signed in through the sign-in form."""
    client = httpx.Client(base_url=base_url, timeout=30)
    form = client.get("/sign-in", params={"next": "/email-log"})
    nonce = re.search(r'name="nonce" value="([^"]+)"', form.text)
    if nonce is None:
        raise RuntimeError("the sign-in page has no nonce field")
    response = client.post("/sign-in", data={"token": token, "nonce": nonce.group(1), "next": "/email-log"})
    if response.status_code != 303:
        raise RuntimeError(f"sign-in failed: {response.status_code}")
    return client


def time_pages(client: httpx.Client, cpu: Callable[[], float]) -> tuple[list[str], list[float], list[str]]:
    """Each case's p50/p99 at the client and CPU per page (`cpu()`: seconds used so far by the server side)."""
    rng = random.Random(11)  # noqa: S311 -- reproducible benchmark parameters, not secrets
    rows: list[str] = []
    everything: list[float] = []
    over: list[str] = []
    for _ in range(3):
        client.get("/email-log").raise_for_status()
    for case in CASES:
        timings: list[float] = []
        requests = 0
        cpu_before = cpu()
        for _ in range(ROUNDS):
            path: str | None = "/email-log"
            params: dict[str, Any] | None = case.params(rng)
            for page in range(1, case.pages + 1):
                if path is None:
                    break
                started = time.perf_counter()
                response = client.get(path, params=params)
                elapsed = (time.perf_counter() - started) * 1000
                requests += 1
                response.raise_for_status()
                if page == case.pages:
                    timings.append(elapsed)
                found = _NEXT_LINK.search(response.text)
                path, params = (html.unescape(found.group(1)), None) if found else (None, None)
        cpu_ms = (cpu() - cpu_before) * 1000 / max(requests, 1)
        if not timings:
            rows.append(f"| {case.name} | – | – | – | fewer than {case.pages} pages |")
            continue
        p50, p99 = percentile(timings, 0.5), percentile(timings, 0.99)
        everything += timings
        if p99 >= TARGET_P99_MS:
            over.append(case.name)
        rows.append(f"| {case.name} | {p50:.1f} | {p99:.1f} | {cpu_ms:.1f} | {len(timings)} |")
        print(f"bench: console {case.name}: p50 {p50:.1f} ms, p99 {p99:.1f} ms, CPU {cpu_ms:.1f} ms", flush=True)
    return rows, everything, over


async def add_issue(database_url: str) -> int:
    """An issue of three messages (one with a 40 KB attachment), as the ingestor stores it."""
    conn = await asyncpg.connect(database_url)
    try:
        await migrate_blobs(conn)
        await migrate(conn, "intake.ingestor", "tracker")
        number: int = await conn.fetchval(
            """INSERT INTO tracker.issues (title, requester_email, requester_name, inbox_id, issue_type_id)
               VALUES ('Printer on floor 3 keeps jamming', 'ann@customer.example', 'Ann Customer', 1, 1)
               RETURNING number"""
        )
        body = "Hello,\n\nthe printer on floor 3 jams on every second page since Monday.\n" * 12
        for uid in (1, 2, 3):
            message = await conn.fetchval(
                """INSERT INTO tracker.messages (issue_number, inbox_id, uidvalidity, uid, from_address, from_name,
                       to_addresses, subject, body_text, raw_sha256)
                   VALUES ($1, 1, 1, $2, 'ann@customer.example', 'Ann Customer', '{support@intake.example}',
                           'Printer on floor 3 keeps jamming', $3, $4) RETURNING id""",
                number,
                uid,
                body,
                "f" * 64,
            )
            if uid == 1:
                sha = await put_blob(conn, os.urandom(40_000))
                await conn.execute(
                    """INSERT INTO tracker.attachments (message_row_id, filename, content_type, size, sha256)
                       VALUES ($1, 'jam.jpg', 'image/jpeg', 40000, $2)""",
                    message,
                    sha,
                )
        return number
    finally:
        await conn.close()


def page_weights(base_url: str, token: str, paths: dict[str, str]) -> tuple[list[str], list[str]]:
    """For each page: bytes transferred (cold cache) and requests; and every request to another host."""
    from playwright.sync_api import Request, sync_playwright

    rows: list[str] = []
    foreign: list[str] = []
    own_host = urlsplit(base_url).netloc
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            for name, path in paths.items():
                context = browser.new_context(base_url=base_url)
                form = context.request.get("/sign-in")
                nonce = re.search(r'name="nonce" value="([^"]+)"', form.text())
                assert nonce is not None
                context.request.post("/sign-in", form={"token": token, "nonce": nonce.group(1), "next": "/"})
                page = context.new_page()
                finished: list[Request] = []
                page.on("request", lambda r: foreign.append(r.url) if urlsplit(r.url).netloc != own_host else None)
                page.on("requestfinished", lambda r, into=finished: into.append(r))
                page.goto(base_url + path, wait_until="load")
                page.wait_for_timeout(1500)  # late requests (the live log's stream opens after load)
                total = 0
                for request in finished:
                    sizes = request.sizes()
                    total += sizes["responseBodySize"] + sizes["responseHeadersSize"]
                    total += sizes["requestBodySize"] + sizes["requestHeadersSize"]
                verdict = "under" if total < TARGET_PAGE_BYTES else "OVER"
                rows.append(f"| {name} (`{path}`) | {total / 1024:.1f} KB | {len(finished)} | {verdict} |")
                print(f"bench: console page {name}: {total} bytes in {len(finished)} requests", flush=True)
                context.close()
        finally:
            browser.close()
    return rows, foreign


def main() -> int:
    environment = Environment()
    asyncio.run(environment.create())
    token = secrets.token_urlsafe(32)
    service: ServiceProcess | None = None
    load_before = os.getloadavg()
    try:
        print(f"bench: filling the email log with {ROWS:,} rows", flush=True)
        fill_seconds = asyncio.run(fill(environment.database_url))
        issue_number = asyncio.run(add_issue(environment.database_url))
        port = free_port()
        env = make_env(
            database_url=environment.database_url,
            amqp_url=environment.amqp_url,
            secret_key=SecretBox.generate_key(),
            admin_token=token,
            api_port=str(port),
            log_level="warning",
        )
        service = ServiceProcess("config-api", env, Path(tempfile.mkdtemp(prefix="intake-bench-")) / "config-api.log")
        service.start()
        base_url = f"http://127.0.0.1:{port}"

        def ready() -> bool:
            try:
                return httpx.get(f"{base_url}/readyz", timeout=2).status_code == 200
            except httpx.HTTPError:
                return False

        wait_until(ready, timeout=60, what="config-api to be ready", explain=service.log)
        httpx.post(
            f"{base_url}/api/v1/inboxes",
            headers={"Authorization": f"Bearer {token}"},
            json={
                "provider": "custom",
                "email": "support@intake.example",
                "username": "support",
                "password": "not-used-by-the-bench",
                "hostname": "127.0.0.1",
                "port": 993,
                "active": False,
            },
        ).raise_for_status()
        client = signed_in_client(base_url, token)

        def server_cpu() -> float:
            backends = asyncio.run(backend_cpu_seconds(environment.database_url))
            return cpu_seconds(service) + backends if service is not None else 0.0

        try:
            rows, everything, over = time_pages(client, server_cpu)
        finally:
            client.close()
        pages = {"Inbox list": "/inboxes", "Email log": "/email-log", "Issue": f"/issues/{issue_number}"}
        weights, foreign = page_weights(base_url, token, pages)
    finally:
        if service is not None and service.running:
            service.stop()
        asyncio.run(environment.remove())
    load_after = os.getloadavg()

    p50, p99 = percentile(everything, 0.5), percentile(everything, 0.99)
    verdict = "met" if p99 < TARGET_P99_MS else "NOT met"
    cores = os.cpu_count() or 1
    if min(load_before[0], load_after[0]) > cores:
        verdict += (
            f"; the machine was loaded above its {cores} cores throughout, so these client times are mostly"
            " waiting for a core: compare CPU ms/page, and rerun on a quiet machine to judge the target"
        )
    body = (
        f"""Load average (1, 5, 15 min) before: {load_before[0]:.2f}, {load_before[1]:.2f}, {load_before[2]:.2f};
after: {load_after[0]:.2f}, {load_after[1]:.2f}, {load_after[2]:.2f} (2 cores, shared with other work).

**Email log page (`GET /email-log`, HTML, {LIMIT} rows) over {ROWS:,} rows: p50 {p50:.1f} ms, p99 {p99:.1f} ms**
(target p99 < {TARGET_P99_MS:.0f} ms: {verdict}). Cases over the target: {", ".join(over) or "none"}.
Rows filled as in the email log bench (in {fill_seconds:.0f} s). Each case: {ROUNDS} requests with varied
values, signed in with a console session, timed at the client over loopback with a keep-alive
connection (so: server time plus loopback); "page 5" follows the page's own Next page link four times
and times the fifth. The page runs the session check, the list query, the inbox picker's query and
the live mode's clock read, and renders 50 rows. Times at the client include waiting for a core on a
loaded machine; "CPU ms/page" (config-api's process plus its PostgreSQL backends, user + system, over
all requests of the case) does not, and is the number to compare between runs.

| case | p50 ms | p99 ms | CPU ms/page | timed requests |
|---|---|---|---|---|
"""
        + "\n".join(rows)
        + f"""

**First page in Chromium** (Debian's, headless, empty cache, signed in; transferred = headers and bodies of
every finished request, from Playwright's network events; target < {TARGET_PAGE_BYTES // 1024} KB each; the
email log's live stream stays open and is not counted):

| page | transferred | requests | target |
|---|---|---|---|
"""
        + "\n".join(weights)
        + f"""

Requests to any other host: {", ".join(foreign) if foreign else "none"}.
"""
    )
    write_section(
        "console", "Web console: email log page at 1,000,000 rows, page weight", "make bench BENCH=console", body
    )
    # The time target is judged in the report (a loaded machine misses it); a request elsewhere is a failure.
    return 1 if foreign else 0


if __name__ == "__main__":
    sys.exit(main())
