"""Provider presets match DESIGN §1."""

from __future__ import annotations

from intake.config_api.providers import DISPLAY_NAMES, Preset, Provider, preset_for
from intake.shared.inbox_vocabulary import Encryption


def test_presets() -> None:
    assert preset_for(Provider.GMAIL) == Preset("imap.gmail.com", 993, Encryption.SSL, requires_oauth2=True)
    assert preset_for(Provider.OUTLOOK) == Preset(
        "outlook.office365.com", 993, Encryption.SSL, requires_oauth2=True, requires_tenant=True
    )
    assert preset_for(Provider.YAHOO) == Preset("imap.mail.yahoo.com", 993, Encryption.SSL, requires_oauth2=False)
    assert preset_for(Provider.ZOHO) == Preset("imap.zoho.com", 993, Encryption.SSL, requires_oauth2=False)


def test_custom_has_no_preset() -> None:
    assert preset_for(Provider.CUSTOM) is None


def test_every_provider_has_a_display_name() -> None:
    assert set(DISPLAY_NAMES) == set(Provider)
