"""`intake-ingestor`: load the settings once, configure logging, run the ingestor and its probe listener
until SIGTERM or SIGINT."""

from __future__ import annotations

import asyncio
import sys

from intake.ingestor.app import IngestorApp
from intake.ingestor.settings import IngestorSettings
from intake.shared.lifecycle import run_service, run_until_stopped
from intake.shared.logging import configure_logging
from intake.shared.probe_listener import ListenerFailed, create_listener, probe_app, run_beside
from intake.shared.settings import SettingsError, load_settings


def main() -> None:
    try:
        settings = load_settings(IngestorSettings)
    except SettingsError as error:
        sys.exit(f"intake-ingestor: {error}")
    configure_logging("ingestor", settings.log_level)
    app = IngestorApp(settings)
    # /healthz, /readyz and /metrics, served from the start so a probe sees the service start up.
    listener = create_listener(
        probe_app(app.metrics.registry, app.readiness), settings.ingestor_http_host, settings.ingestor_http_port
    )

    async def run(stop: asyncio.Event) -> None:
        await run_beside(listener, app.run, stop)

    try:
        run_service(run_until_stopped(run))
    except ListenerFailed as error:
        sys.exit(f"intake-ingestor: {error}")


if __name__ == "__main__":
    main()
