"""`intake-fetcher`: load settings once, configure logging, run the fetcher and its probe listener until
SIGTERM/SIGINT."""

from __future__ import annotations

import asyncio
import sys

from intake.fetcher.app import FetcherApp
from intake.fetcher.settings import FetcherSettings
from intake.shared.lifecycle import run_service, run_until_stopped
from intake.shared.logging import configure_logging
from intake.shared.probe_listener import ListenerFailed, create_listener, probe_app, run_beside
from intake.shared.settings import SettingsError, load_settings


def main() -> None:
    try:
        settings = load_settings(FetcherSettings)
    except SettingsError as error:
        sys.exit(f"intake-fetcher: {error}")
    configure_logging("fetcher", settings.log_level)
    app = FetcherApp(settings)
    # /healthz, /readyz and /metrics, served from the start so a probe sees the service start up.
    listener = create_listener(
        probe_app(app.metrics.registry, app.readiness), settings.fetcher_http_host, settings.fetcher_http_port
    )

    async def run(stop: asyncio.Event) -> None:
        await run_beside(listener, app.run, stop)

    try:
        run_service(run_until_stopped(run))
    except ListenerFailed as error:
        sys.exit(f"intake-fetcher: {error}")


if __name__ == "__main__":
    main()
