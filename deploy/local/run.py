"""`make run`: create what is missing (.env with fresh secrets, the database), then run the three services.

The services run in the foreground as child processes sharing this terminal; Ctrl-C or SIGTERM stops
them all cleanly (SIGTERM to each, then a kill after a grace period), and so does any one of them exiting.
Each service applies its own migrations when it starts. Unless INTAKE_DEV_MAILBOX=off, a development
mailbox (deploy/local/dev_mailbox.py) runs beside them and gets an inbox once the API answers.
Run as `python -m deploy.local.run` from the repository root (the Makefile does).
"""

from __future__ import annotations

import asyncio
import os
import secrets
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import asyncpg
from cryptography.fernet import Fernet

from deploy.local.dev_mailbox import DevMailbox, DevMailboxError, ensure_inbox, port_setting, start_dev_mailbox
from deploy.local.dovecot import DovecotServer

ROOT = Path(__file__).resolve().parents[2]
ENV_FILE = ROOT / ".env"
# Everything `make run` keeps between runs besides .env (git-ignored).
RUN_DIR = ROOT / ".run"
DEV_MAILBOX_DIR = RUN_DIR / "dev-mailbox"
SERVICES = ("intake-config-api", "intake-fetcher", "intake-ingestor")
GRACE_SECONDS = 20.0
READY_PROBE_TIMEOUT_SECONDS = 1.0


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


@dataclass
class DevMailboxRun:
    """The running development mailbox: its Dovecot, how to reach it, and whether its password is new."""

    server: DovecotServer
    mailbox: DevMailbox
    new_password: bool


def api_base_url(env: dict[str, str]) -> str:
    host, port = env.get("INTAKE_API_HOST", "127.0.0.1"), env.get("INTAKE_API_PORT", "8080")
    # A wildcard listen address is reached on loopback from here.
    return f"http://{'127.0.0.1' if host in ('0.0.0.0', '::', '') else host}:{port}"  # noqa: S104


def api_ready(base_url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{base_url}/readyz", timeout=READY_PROBE_TIMEOUT_SECONDS) as response:  # noqa: S310
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError):
        return False


def announce(env: dict[str, str], base_url: str, dev: DevMailboxRun | None) -> None:
    """The stack answers: set up the development inbox, then say where the console is and how to sign in."""
    lines = [
        "",
        "run: Intake is up.",
        f"  Console     {base_url}/",
        f"  Sign in     with the admin token, INTAKE_ADMIN_TOKEN in {ENV_FILE}:",
        f"              grep ^INTAKE_ADMIN_TOKEN= {ENV_FILE} | cut -d= -f2",
        f"  API         {base_url}/api/v1 (Authorization: Bearer <that token>)",
    ]
    if dev is not None:
        mailbox = dev.mailbox
        try:
            inbox_id, done = ensure_inbox(base_url, env["INTAKE_ADMIN_TOKEN"], mailbox, new_password=dev.new_password)
            inbox = f"inbox #{inbox_id} ({done})"
        except DevMailboxError as error:
            inbox = f"no inbox: {error}"
        lines += [
            f"  Dev mailbox {mailbox.email} at {mailbox.host}:{mailbox.port}, plain IMAP, password {mailbox.password}",
            f"              {inbox}; files in {dev.server.root}",
            "              `make send-sample` puts sample mail into it; watch it arrive in the console's Email log.",
        ]
    else:
        lines.append("  Dev mailbox off (INTAKE_DEV_MAILBOX=off)")
    lines.append("  Ctrl-C stops everything.")
    print("\n".join(lines), flush=True)


def run_services(env: dict[str, str], dev: DevMailboxRun | None) -> int:
    bin_dir = Path(sys.executable).parent
    # The commands are this virtualenv's own console scripts, never user input.
    children = [subprocess.Popen([str(bin_dir / name)], env=env) for name in SERVICES]  # noqa: S603
    stopping = False

    def stop(signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    base_url = api_base_url(env)
    print(f"run: Intake is starting; the API will be at {base_url}/api/v1", flush=True)
    exit_code = 0
    announced = False
    while not stopping:
        for child, name in zip(children, SERVICES, strict=True):
            if child.poll() is not None:
                print(f"run: {name} exited with status {child.returncode}; stopping the others", flush=True)
                exit_code = child.returncode or 1
                stopping = True
        if dev is not None and not stopping and not dev.server.running:
            print(f"run: the development mailbox stopped; stopping the others (log: {dev.server.log_path})")
            exit_code, stopping = 1, True
        if not announced and not stopping and api_ready(base_url):
            announce(env, base_url, dev)
            announced = True
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
    if dev is not None:
        dev.server.stop()
    print("run: stopped", flush=True)
    return exit_code


def dev_mailbox_wanted(env: dict[str, str]) -> bool:
    """INTAKE_DEV_MAILBOX: on unless off/false/no/0."""
    return env.get("INTAKE_DEV_MAILBOX", "on").strip().lower() not in ("off", "false", "no", "0")


def main() -> None:
    write_env_file()
    env = load_env_file()
    asyncio.run(ensure_database(env.get("INTAKE_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/intake")))
    dev = None
    if dev_mailbox_wanted(env):
        try:
            server, mailbox, new_password = start_dev_mailbox(
                DEV_MAILBOX_DIR, port_setting(env.get("INTAKE_DEV_MAILBOX_PORT"))
            )
        except DevMailboxError as error:
            raise SystemExit(f"run: {error}") from None
        dev = DevMailboxRun(server, mailbox, new_password)
    raise SystemExit(run_services(env, dev))


if __name__ == "__main__":
    main()
