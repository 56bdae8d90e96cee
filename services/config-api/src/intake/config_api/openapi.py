"""The config API's OpenAPI document as the running service serves it at /openapi.json.

`make openapi` writes it to docs/openapi.json (`python -m intake.config_api.openapi PATH`); a test fails
when the committed file differs from what the app serves, so every API change regenerates it.
Building the document connects nothing: the app is created, never started.
"""

from __future__ import annotations

import json
import secrets
import sys
from pathlib import Path
from typing import Any

from pydantic import SecretStr

from intake.config_api.app import create_app
from intake.config_api.settings import ConfigApiSettings
from intake.shared.secrets import SecretBox


def openapi_document() -> dict[str, Any]:
    """The document /openapi.json serves; it depends on the code only, never on settings."""
    # Throwaway secrets only satisfy the settings' validation; the app is never started.
    settings = ConfigApiSettings(
        secret_key=SecretStr(SecretBox.generate_key()),
        admin_token=SecretStr(secrets.token_urlsafe(32)),
        service_token=SecretStr(secrets.token_urlsafe(32)),
    )
    document: dict[str, Any] = create_app(settings).openapi()
    return document


def render(document: dict[str, Any]) -> str:
    """The committed form: two-space indented JSON in FastAPI's key order, non-ASCII kept, one final newline."""
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m intake.config_api.openapi PATH", file=sys.stderr)
        return 2
    path = Path(argv[0])
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render(openapi_document()), encoding="utf-8")
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
