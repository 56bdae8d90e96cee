"""`intake-config-api` as a real process: one clear line for a missing setting, a clean stop on SIGTERM."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import httpx

from tests.support.processes import BIN, ServiceProcess, free_port, make_env, wait_until

PASSWORD = "process-level-secret-5d1c"


def test_missing_admin_token_exits_with_one_line(secret_key: str) -> None:
    result = subprocess.run(
        [str(BIN / "intake-config-api")], env=make_env(secret_key=secret_key), capture_output=True, timeout=60
    )
    assert result.returncode == 1
    assert result.stderr.decode() == "intake-config-api: INTAKE_ADMIN_TOKEN is required but not set\n"


def test_missing_service_token_exits_with_one_line(secret_key: str) -> None:
    env = make_env(secret_key=secret_key, admin_token="a" * 32)
    del env["INTAKE_SERVICE_TOKEN"]
    result = subprocess.run([str(BIN / "intake-config-api")], env=env, capture_output=True, timeout=60)
    assert result.returncode == 1
    assert result.stderr.decode() == "intake-config-api: INTAKE_SERVICE_TOKEN is required but not set\n"


def test_runs_until_sigterm_and_logs_json_without_secrets(
    database_url: str, amqp_url: str, secret_key: str, admin_token: str, tmp_path: Path
) -> None:
    port = free_port()
    env = make_env(
        database_url=database_url,
        amqp_url=amqp_url,
        secret_key=secret_key,
        admin_token=admin_token,
        api_port=str(port),
        log_level="debug",
    )
    service_token = env["INTAKE_SERVICE_TOKEN"]
    service = ServiceProcess("config-api", env, tmp_path / "config-api.log").start()
    try:
        http = httpx.Client(base_url=f"http://127.0.0.1:{port}", headers={"Authorization": f"Bearer {admin_token}"})
        wait_until(lambda: _ready(http), timeout=60, what="readyz", explain=service.log)
        body = {"provider": "zoho", "email": "desk@example.com", "password": PASSWORD}
        assert http.post("/api/v1/inboxes", json=body).status_code == 201
        assert http.post("/api/v1/inboxes", json=body | {"port": -1}).status_code == 422
    finally:
        status = service.stop()
    log = service.log()
    assert status == 0, log
    assert PASSWORD not in log
    assert admin_token not in log
    assert service_token not in log
    records = [json.loads(line) for line in log.splitlines()]
    assert any(r["message"] == "inbox created" for r in records)
    assert any(r["message"] == "config api stopped" for r in records)


def _ready(http: httpx.Client) -> bool:
    try:
        return http.get("/readyz").status_code == 200
    except httpx.TransportError:
        return False
