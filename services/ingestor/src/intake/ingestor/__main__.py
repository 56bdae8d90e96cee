"""`intake-ingestor`: load the settings once, configure logging, run the ingestor and its probe listener
until SIGTERM or SIGINT."""

from __future__ import annotations

import sys

from intake.ingestor.app import IngestorApp
from intake.ingestor.settings import IngestorSettings
from intake.shared.logging import configure_logging
from intake.shared.probe_listener import ListenerFailed, run_with_probes
from intake.shared.settings import SettingsError, load_settings


def main() -> None:
    try:
        settings = load_settings(IngestorSettings)
    except SettingsError as error:
        sys.exit(f"intake-ingestor: {error}")
    configure_logging("ingestor", settings.log_level)
    app = IngestorApp(settings)
    try:
        run_with_probes(
            app.run, app.metrics.registry, app.readiness, settings.ingestor_http_host, settings.ingestor_http_port
        )
    except ListenerFailed as error:
        sys.exit(f"intake-ingestor: {error}")


if __name__ == "__main__":
    main()
