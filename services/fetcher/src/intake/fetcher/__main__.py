"""`intake-fetcher`: load settings once, configure logging, run the fetcher until SIGTERM/SIGINT."""

from __future__ import annotations

import sys

from intake.fetcher.app import FetcherApp
from intake.fetcher.settings import FetcherSettings
from intake.shared.lifecycle import run_service, run_until_stopped
from intake.shared.logging import configure_logging
from intake.shared.settings import SettingsError, load_settings


def main() -> None:
    try:
        settings = load_settings(FetcherSettings)
    except SettingsError as error:
        sys.exit(f"intake-fetcher: {error}")
    configure_logging("fetcher", settings.log_level)
    run_service(run_until_stopped(FetcherApp(settings).run))


if __name__ == "__main__":
    main()
