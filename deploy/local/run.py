"""`make run`: create what is missing (.env with fresh secrets, the database), then run the three services.

The services run in the foreground as child processes sharing this terminal; Ctrl-C or SIGTERM stops
them all cleanly (SIGTERM to each, then a kill after a grace period), and so does any one of them exiting.
Each service applies its own migrations when it starts.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import signal
import subprocess
import sys
import time
import urllib.parse
from pathlib import Path

import asyncpg
from cryptography.fernet import Fernet

ROOT = Path(__file__).resolve().parents[2]
ENV_FILE = ROOT / ".env"
SERVICES = ("intake-config-api", "intake-fetcher", "intake-ingestor")
GRACE_SECONDS = 20.0


def write_env_file() -> None:
    """First run: a `.env` with a fresh secret key, admin token and service token, readable by the owner only.

    A `.env` from before INTAKE_SERVICE_TOKEN existed gets one appended.
    """
    if ENV_FILE.exists():
        text = ENV_FILE.read_text()
        if not any(
            line.startswith("INTAKE_SERVICE_TOKEN=") and line.strip() != "INTAKE_SERVICE_TOKEN="
            for line in text.splitlines()
        ):
            lines = [line for line in text.splitlines() if line.strip() != "INTAKE_SERVICE_TOKEN="]
            lines.append(f"INTAKE_SERVICE_TOKEN={secrets.token_urlsafe(32)}")
            ENV_FILE.write_text("\n".join(lines) + "\n")
            print(f"run: added a fresh INTAKE_SERVICE_TOKEN to {ENV_FILE}", flush=True)
        return
    text = (ROOT / ".env.example").read_text()
    text = text.replace("INTAKE_SECRET_KEY=", f"INTAKE_SECRET_KEY={Fernet.generate_key().decode()}", 1)
    text = text.replace("INTAKE_ADMIN_TOKEN=", f"INTAKE_ADMIN_TOKEN={secrets.token_urlsafe(32)}", 1)
    text = text.replace("INTAKE_SERVICE_TOKEN=\n", f"INTAKE_SERVICE_TOKEN={secrets.token_urlsafe(32)}\n", 1)
    ENV_FILE.touch(mode=0o600)
    ENV_FILE.write_text(text)
    print(
        f"run: wrote {ENV_FILE} with a fresh INTAKE_SECRET_KEY, INTAKE_ADMIN_TOKEN and INTAKE_SERVICE_TOKEN", flush=True
    )


def load_env_file() -> dict[str, str]:
    """The environment for the services: `.env` values, overridden by variables already set."""
    env = {}
    for line in ENV_FILE.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#") and "=" in line:
            key, value = line.split("=", 1)
            env[key.strip()] = value.strip()
    env.update({k: v for k, v in os.environ.items() if k.startswith("INTAKE_")})
    return {**os.environ, **env}


async def ensure_database(url: str) -> None:
    """Create the database named in `url` when the server has no such database yet."""
    parts = urllib.parse.urlsplit(url)
    name = parts.path.lstrip("/") or "intake"
    maintenance = urllib.parse.urlunsplit(parts._replace(path="/postgres"))
    try:
        conn = await asyncpg.connect(maintenance, timeout=10)
    except (OSError, asyncpg.PostgresError) as error:
        raise SystemExit(
            f"run: PostgreSQL at {parts.hostname}:{parts.port or 5432} is not reachable: {error}"
        ) from None
    try:
        if not await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name):
            await conn.execute(f'CREATE DATABASE "{name.replace(chr(34), "")}"')
            print(f"run: created database {name}", flush=True)
    finally:
        await conn.close()


def run_services(env: dict[str, str]) -> int:
    bin_dir = Path(sys.executable).parent
    # The commands are this virtualenv's own console scripts, never user input.
    children = [subprocess.Popen([str(bin_dir / name)], env=env) for name in SERVICES]  # noqa: S603
    stopping = False

    def stop(signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    host, port = env.get("INTAKE_API_HOST", "127.0.0.1"), env.get("INTAKE_API_PORT", "8080")
    print(f"run: Intake is starting; the API is at http://{host}:{port}/api/v1 (token: INTAKE_ADMIN_TOKEN in .env)")
    exit_code = 0
    while not stopping:
        for child, name in zip(children, SERVICES, strict=True):
            if child.poll() is not None:
                print(f"run: {name} exited with status {child.returncode}; stopping the others", flush=True)
                exit_code = child.returncode or 1
                stopping = True
        time.sleep(0.2)
    for child in children:
        if child.poll() is None:
            child.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + GRACE_SECONDS
    for child, name in zip(children, SERVICES, strict=True):
        try:
            child.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            print(f"run: {name} did not stop within {GRACE_SECONDS:.0f}s; killing it", flush=True)
            child.kill()
            child.wait()
    print("run: stopped", flush=True)
    return exit_code


def main() -> None:
    write_env_file()
    env = load_env_file()
    asyncio.run(ensure_database(env.get("INTAKE_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/intake")))
    raise SystemExit(run_services(env))


if __name__ == "__main__":
    main()
