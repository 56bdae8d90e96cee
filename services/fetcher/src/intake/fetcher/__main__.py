"""`intake-fetcher`: load settings once, configure logging, run the fetcher and its probe listener until
SIGTERM/SIGINT."""

from __future__ import annotations

import sys

from intake.fetcher.app import FetcherApp
from intake.fetcher.settings import FetcherSettings
from intake.shared.logging import configure_logging
from intake.shared.probe_listener import ListenerFailed, run_with_probes
from intake.shared.settings import SettingsError, load_settings


def main() -> None:
    try:
        settings = load_settings(FetcherSettings)
    except SettingsError as error:
        sys.exit(f"intake-fetcher: {error}")
    configure_logging("fetcher", settings.log_level)
    app = FetcherApp(settings)
    try:
        run_with_probes(
            app.run, app.metrics.registry, app.readiness, settings.fetcher_http_host, settings.fetcher_http_port
        )
    except ListenerFailed as error:
        sys.exit(f"intake-fetcher: {error}")


if __name__ == "__main__":
    main()
