"""`intake-config-api`: load settings, configure logging, serve the HTTP API until SIGTERM/SIGINT."""

from __future__ import annotations

import asyncio
import sys

from intake.config_api.app import create_app
from intake.config_api.errors import StartupFailed
from intake.config_api.server import create_server, serve
from intake.config_api.settings import ConfigApiSettings
from intake.shared.lifecycle import run_until_stopped
from intake.shared.logging import configure_logging
from intake.shared.settings import SettingsError, load_settings


def main() -> None:
    try:
        settings = load_settings(ConfigApiSettings)
    except SettingsError as error:
        sys.exit(f"intake-config-api: {error}")
    configure_logging("config-api", settings.log_level)
    server = create_server(create_app(settings), settings.api_host, settings.api_port, settings.log_level)

    async def run(stop: asyncio.Event) -> None:
        await serve(server, stop)

    try:
        asyncio.run(run_until_stopped(run))
    except StartupFailed as error:
        sys.exit(f"intake-config-api: {error}")


if __name__ == "__main__":
    main()
