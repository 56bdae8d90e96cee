"""docker-compose.yml built and run with podman: ready, non-root, a mail becomes an issue, clean stops.

The tests share one running stack (module fixture) and run in file order; the last one stops the services.
"""

from __future__ import annotations

import imaplib
import time
import uuid
from email.message import EmailMessage
from typing import Any

import pytest

from tests.containers.podman_stack import SERVICES, ComposeStack
from tests.support.api import Api
from tests.support.processes import wait_until

# Building the images cold (debootstrap, Debian's packages, every wheel) takes minutes on this machine.
pytestmark = pytest.mark.timeout(2400)

# The compose file's development mailbox (deploy/compose/dovecot-users).
MAILBOX_USER = "dev@example.com"
MAILBOX_PASSWORD = "dev-password"

# Where each service serves /healthz, /readyz and /metrics inside its container: config-api on its API
# port, the fetcher and the ingestor on their own listeners (the images set their hosts to 0.0.0.0).
PROBE_PORTS = {"config-api": 8080, "fetcher": 8081, "ingestor": 8082}


def probe(stack: ComposeStack, service: str, path: str) -> int:
    """The HTTP status of `path` on the service's probe port, asked across the compose network from the
    config-api container (as a kubelet or Prometheus would reach it: the listener must not be loopback-only)."""
    url = f"http://{service}:{PROBE_PORTS[service]}{path}"
    code = (
        "import urllib.error, urllib.request\n"
        "try:\n"
        f"    status = urllib.request.urlopen({url!r}, timeout=5).status\n"
        "except urllib.error.HTTPError as error:\n"
        "    status = error.code\n"
        "except OSError:\n"
        "    status = 0\n"
        "print(status)\n"
    )
    result = stack.exec("config-api", "python", "-c", code, check=False)
    return int(result.stdout.strip() or 0)


def test_every_service_is_ready_and_its_healthcheck_passes(compose_stack: ComposeStack, api: Api) -> None:
    for service in PROBE_PORTS:
        wait_until(
            lambda service=service: probe(compose_stack, service, "/readyz") == 200,
            timeout=120,
            what=f"{service} /readyz across the compose network",
            explain=compose_stack.all_logs,
        )
        # The image's own HEALTHCHECK (podman 4.3 runs it on demand; there is no systemd timer here).
        result = compose_stack.transcript.run(
            "podman", "healthcheck", "run", compose_stack.container(service), timeout=60, check=False
        )
        assert result.returncode == 0, f"{service} HEALTHCHECK failed\n{compose_stack.transcript.tail()}"
        assert probe(compose_stack, service, "/metrics") == 200, f"{service} /metrics"
    for service in SERVICES:
        assert compose_stack.inspect(service)["State"]["Running"], compose_stack.all_logs()


def test_the_backing_services_pass_their_healthchecks(compose_stack: ComposeStack, api: Api) -> None:
    """PostgreSQL, RabbitMQ and Dovecot (the local stand-ins or the upstream images) answer their checks."""
    for service in ("postgres", "rabbitmq", "imap"):
        result = compose_stack.transcript.run(
            "podman", "healthcheck", "run", compose_stack.container(service), timeout=60, check=False
        )
        assert result.returncode == 0, f"{service} health check failed\n{compose_stack.transcript.tail()}"


def test_each_image_holds_only_its_own_service(compose_stack: ComposeStack, api: Api) -> None:
    """Multi-stage: no build tool or source tree in the runtime image; `--package` kept the others out."""
    packages = {"config-api": "intake.config_api", "fetcher": "intake.fetcher", "ingestor": "intake.ingestor"}
    for service, own in packages.items():
        compose_stack.exec(service, "python", "-c", f"import {own}, intake.shared")
        others = [package for name, package in packages.items() if name != service]
        check = (
            "import importlib.util, os, sys\n"
            f"present = [p for p in {others!r} if importlib.util.find_spec(p) is not None]\n"
            "present += [path for path in ('/opt/uv', '/src') if os.path.exists(path)]\n"
            "print(present)\n"
        )
        assert compose_stack.exec(service, "python", "-c", check).stdout.strip() == "[]", service


def test_service_containers_run_as_a_numeric_non_root_user(compose_stack: ComposeStack, api: Api) -> None:
    for service in SERVICES:
        configured = compose_stack.inspect(service)["Config"]["User"]
        uid, _, gid = configured.partition(":")
        assert uid.isdigit(), f"{service} image user {configured!r} is not numeric"
        assert gid.isdigit(), f"{service} image group {configured!r} is not numeric"
        assert int(uid) != 0, f"{service} image runs as root ({configured!r})"
        assert int(gid) != 0, f"{service} image runs with group root ({configured!r})"
        running = compose_stack.exec(service, "python", "-c", "import os; print(os.getuid(), os.getgid())")
        assert running.stdout.split() == [uid, gid], f"{service} runs as {running.stdout!r}"


def test_a_message_appended_to_the_compose_imap_server_becomes_an_issue(compose_stack: ComposeStack, api: Api) -> None:
    subject = f"Printer on fire {uuid.uuid4().hex[:8]}"
    inbox = api.post(
        "/api/v1/inboxes",
        {
            "provider": "custom",
            "email": MAILBOX_USER,
            "username": MAILBOX_USER,
            "password": MAILBOX_PASSWORD,
            "hostname": "imap",  # the compose service, as the fetcher's container sees it
            "port": 143,
            "encryption": "none",
            "auth": "password",
            "poll_interval_seconds": 1,
        },
    )
    append_message(compose_stack, subject)

    def issue_for_subject() -> dict[str, Any] | None:
        issues: list[dict[str, Any]] = api.get("/api/v1/issues")["items"]
        return next((issue for issue in issues if issue["title"] == subject), None)

    issue = wait_until(
        issue_for_subject, timeout=180, what=f"an issue titled {subject!r}", explain=compose_stack.all_logs
    )
    assert issue["inbox_id"] == inbox["id"]
    detail = api.get(f"/api/v1/issues/{issue['number']}")
    assert detail["requester"]["email"] == "customer@example.org"
    assert "The printer in room 3 is on fire." in detail["messages"][0]["body_text"]
    rows = wait_until(
        lambda: [row for row in api.email_log(inbox["id"]) if row["outcome"] == "issue_created"],
        timeout=60,
        what="the email log's issue_created row",
        explain=compose_stack.all_logs,
    )
    assert rows[0]["issue_number"] == issue["number"]


def append_message(stack: ComposeStack, subject: str) -> None:
    """Deliver a new, unread message through the IMAP server's published port, as a mail server would."""
    message = EmailMessage()
    message["From"] = "Customer <customer@example.org>"
    message["To"] = MAILBOX_USER
    message["Subject"] = subject
    message["Message-ID"] = f"<{uuid.uuid4().hex}@example.org>"
    message.set_content("The printer in room 3 is on fire.\n")
    port = int(stack.env["INTAKE_IMAP_HOST_PORT"])
    deadline = time.monotonic() + 60
    while True:
        try:
            with imaplib.IMAP4("127.0.0.1", port, timeout=10) as imap:
                imap.login(MAILBOX_USER, MAILBOX_PASSWORD)
                status, _ = imap.append("INBOX", None, None, message.as_bytes())
                assert status == "OK"
                return
        except (OSError, imaplib.IMAP4.abort):
            if time.monotonic() > deadline:
                raise
            time.sleep(1)


def test_services_stop_cleanly_on_sigterm(compose_stack: ComposeStack, api: Api) -> None:
    """Last: each service gets SIGTERM (the images' STOPSIGNAL) and must exit 0 well before podman kills it."""
    for service in SERVICES:
        compose_stack.transcript.run("podman", "stop", "--time", "30", compose_stack.container(service), timeout=90)
        state = compose_stack.inspect(service)["State"]
        assert state["ExitCode"] == 0, f"{service} exited {state['ExitCode']}\n{compose_stack.logs(service)}"
