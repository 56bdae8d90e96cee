"""Mail provider presets (DESIGN §1): the IMAP server, port and encryption each named provider uses.

Pure data and lookups. A named provider's server settings are fixed; `custom` has no preset, so its
hostname and port must be given.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from intake.shared.inbox_vocabulary import Encryption


class Provider(StrEnum):
    GMAIL = "gmail"
    OUTLOOK = "outlook"
    YAHOO = "yahoo"
    ZOHO = "zoho"
    CUSTOM = "custom"


@dataclass(frozen=True)
class Preset:
    hostname: str
    port: int
    encryption: Encryption
    requires_oauth2: bool
    # Microsoft's token endpoint is per directory (tenant): OAuth2 needs `oauth2.tenant_id`.
    requires_tenant: bool = False


PRESETS: dict[Provider, Preset] = {
    # Google and Microsoft have switched basic authentication off for IMAP: only XOAUTH2 logs in.
    Provider.GMAIL: Preset("imap.gmail.com", 993, Encryption.SSL, requires_oauth2=True),
    Provider.OUTLOOK: Preset("outlook.office365.com", 993, Encryption.SSL, requires_oauth2=True, requires_tenant=True),
    Provider.YAHOO: Preset("imap.mail.yahoo.com", 993, Encryption.SSL, requires_oauth2=False),
    Provider.ZOHO: Preset("imap.zoho.com", 993, Encryption.SSL, requires_oauth2=False),
}

DISPLAY_NAMES: dict[Provider, str] = {
    Provider.GMAIL: "Gmail",
    Provider.OUTLOOK: "Microsoft 365 / Outlook",
    Provider.YAHOO: "Yahoo Mail",
    Provider.ZOHO: "Zoho Mail",
    Provider.CUSTOM: "Other IMAP server",
}

# What `custom` starts with when the client gives no encryption: implicit TLS, the safe choice.
CUSTOM_DEFAULT_ENCRYPTION = Encryption.SSL


def preset_for(provider: Provider) -> Preset | None:
    """The preset of `provider`, or None for `custom`."""
    return PRESETS.get(provider)
