"""Fixtures of the containers tier: the images built with podman and docker-compose.yml running once per module.

The tier skips, with the reason, where podman cannot run; with INTAKE_CONTAINERS_REQUIRED=1 (set by
.ci/run, which prepares podman with deploy/containers/podman-setup.sh) that reason fails the tier instead.
"""

from __future__ import annotations

import os
import secrets
import uuid
from collections.abc import Iterator

import pytest
from cryptography.fernet import Fernet

from tests.containers.podman_stack import ComposeStack, Transcript, build_images, podman_problem
from tests.support.api import Api
from tests.support.processes import free_port, wait_until


@pytest.fixture(scope="module")
def transcript() -> Transcript:
    return Transcript()


@pytest.fixture(scope="module")
def compose_stack(tmp_path_factory: pytest.TempPathFactory, transcript: Transcript) -> Iterator[ComposeStack]:
    if problem := podman_problem():
        if os.environ.get("INTAKE_CONTAINERS_REQUIRED") == "1":
            pytest.fail(f"tests/containers must run here (INTAKE_CONTAINERS_REQUIRED=1) but: {problem}")
        pytest.skip(problem)
    build_images(transcript)
    settings = {
        "INTAKE_SECRET_KEY": Fernet.generate_key().decode(),
        "INTAKE_ADMIN_TOKEN": secrets.token_urlsafe(32),
        "INTAKE_SERVICE_TOKEN": secrets.token_urlsafe(32),
        "INTAKE_API_HOST_PORT": str(free_port()),
        "INTAKE_IMAP_HOST_PORT": str(free_port()),
        "INTAKE_RABBITMQ_MANAGEMENT_HOST_PORT": str(free_port()),
    }
    stack = ComposeStack.prepare(
        f"intake{uuid.uuid4().hex[:10]}", tmp_path_factory.mktemp("compose") / "project", settings, transcript
    )
    try:
        stack.up()
        yield stack
    finally:
        stack.down()


@pytest.fixture(scope="module")
def api(compose_stack: ComposeStack) -> Iterator[Api]:
    client = Api(
        f"http://127.0.0.1:{compose_stack.env['INTAKE_API_HOST_PORT']}", compose_stack.env["INTAKE_ADMIN_TOKEN"]
    )
    # Generous: the first start creates the database cluster, the broker's node and applies every migration.
    wait_until(client.ready, timeout=180, what="config-api /readyz in its container", explain=compose_stack.all_logs)
    yield client
    client.http.close()
