"""`intake-ingestor`: load the settings once, configure logging, run until SIGTERM or SIGINT."""

from __future__ import annotations

import sys

from intake.ingestor.app import IngestorApp
from intake.ingestor.settings import IngestorSettings
from intake.shared.lifecycle import run_service, run_until_stopped
from intake.shared.logging import configure_logging
from intake.shared.settings import SettingsError, load_settings


def main() -> None:
    try:
        settings = load_settings(IngestorSettings)
    except SettingsError as error:
        sys.exit(f"intake-ingestor: {error}")
    configure_logging("ingestor", settings.log_level)
    run_service(run_until_stopped(IngestorApp(settings).run))


if __name__ == "__main__":
    main()
