"""GET /api/v1/providers and /api/v1/languages: the fixed lists an inbox's settings choose from."""

from __future__ import annotations

from fastapi import APIRouter

from intake.config_api.languages import LANGUAGES
from intake.config_api.providers import CUSTOM_DEFAULT_ENCRYPTION, DISPLAY_NAMES, Provider, preset_for
from intake.config_api.schemas import Language, ProviderPreset

router = APIRouter(tags=["reference data"])


@router.get("/providers")
async def list_providers() -> list[ProviderPreset]:
    """Every provider with its preset; a named provider's hostname, port and encryption are fixed."""
    presets = []
    for provider in Provider:
        preset = preset_for(provider)
        presets.append(
            ProviderPreset(
                provider=provider,
                name=DISPLAY_NAMES[provider],
                hostname=preset.hostname if preset else None,
                port=preset.port if preset else None,
                encryption=preset.encryption if preset else CUSTOM_DEFAULT_ENCRYPTION,
                editable=preset is None,
                requires_oauth2=preset.requires_oauth2 if preset else False,
                requires_tenant=preset.requires_tenant if preset else False,
            )
        )
    return presets


@router.get("/languages")
async def list_languages() -> list[Language]:
    """The ISO 639-1 codes an inbox's `default_language` accepts, with their English names."""
    return [Language(code=code, name=name) for code, name in LANGUAGES.items()]
