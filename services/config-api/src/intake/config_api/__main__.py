"""`intake-config-api`: serve the HTTP API until SIGTERM/SIGINT; `intake-config-api rotate-secrets`:
re-encrypt every stored secret with the first key of `INTAKE_SECRET_KEY`, then exit.

Settings are loaded once here; a missing or invalid one ends the process with one line naming it.
"""

from __future__ import annotations

import argparse
import asyncio
import sys

import asyncpg

from intake.config_api.app import create_app
from intake.config_api.errors import StartupFailed
from intake.config_api.secret_rotation import RotationFailed, rotate_secrets
from intake.config_api.server import create_server, serve
from intake.config_api.settings import ConfigApiSettings, SecretRotationSettings
from intake.shared.database import create_pool
from intake.shared.lifecycle import run_service, run_until_stopped
from intake.shared.logging import configure_logging
from intake.shared.migrations import migrate
from intake.shared.secrets import SecretBox
from intake.shared.settings import SettingsError, load_settings

PROGRAM = "intake-config-api"
# The rotation is run by hand: wait a little for PostgreSQL, not the service's full minute.
ROTATION_WAIT_SECONDS = 10.0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=PROGRAM, description="Intake config API (settings from INTAKE_* variables).")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    commands.add_parser(
        "rotate-secrets",
        help="re-encrypt every stored secret with the first key of INTAKE_SECRET_KEY ('new,old'), then exit",
    )
    return parser


def serve_api() -> None:
    try:
        settings = load_settings(ConfigApiSettings)
    except SettingsError as error:
        sys.exit(f"{PROGRAM}: {error}")
    configure_logging("config-api", settings.log_level)
    server = create_server(create_app(settings), settings.api_host, settings.api_port, settings.log_level)

    async def run(stop: asyncio.Event) -> None:
        await serve(server, stop)

    try:
        run_service(run_until_stopped(run))
    except StartupFailed as error:
        sys.exit(f"{PROGRAM}: {error}")


async def _rotate(settings: SecretRotationSettings) -> str:
    box = SecretBox(settings.secret_key.get_secret_value())
    pool = await create_pool(settings.database_url.get_secret_value(), wait_seconds=ROTATION_WAIT_SECONDS)
    try:
        async with pool.acquire() as conn:
            await migrate(conn, "intake.config_api", "config")
            report = await rotate_secrets(conn, box)
    finally:
        await pool.close()
    return f"re-encrypted {report.secrets} secrets with the first key ({len(report.columns)} secret columns)"


def rotate() -> None:
    try:
        settings = load_settings(SecretRotationSettings)
    except SettingsError as error:
        sys.exit(f"{PROGRAM} rotate-secrets: {error}")
    configure_logging("config-api", settings.log_level)
    try:
        print(asyncio.run(_rotate(settings)), flush=True)
    except RotationFailed as error:
        sys.exit(f"{PROGRAM} rotate-secrets: {error}")
    except (OSError, asyncpg.PostgresError) as error:
        sys.exit(f"{PROGRAM} rotate-secrets: the database is not reachable: {type(error).__name__}: {error}")


def main(argv: list[str] | None = None) -> None:
    arguments = _parser().parse_args(argv)
    if arguments.command == "rotate-secrets":
        rotate()
    else:
        serve_api()


if __name__ == "__main__":
    main()
