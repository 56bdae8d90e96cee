"""The adapter's TLS context: verification is always on; a custom CA replaces the system store."""

from __future__ import annotations

import ssl

import pytest

from intake.shared.imap_client import tls_context
from intake.shared.imap_errors import ImapSettingsError
from tests.support.dovecot import make_certificates


def test_system_store_with_verification() -> None:
    context = tls_context(None)
    assert (context.verify_mode, context.check_hostname) == (ssl.CERT_REQUIRED, True)


def test_custom_ca_only() -> None:
    context = tls_context(make_certificates().ca_pem)
    assert (context.verify_mode, context.check_hostname) == (ssl.CERT_REQUIRED, True)
    assert [cert["subject"] for cert in context.get_ca_certs()] == [((("commonName", "Intake test CA"),),)]


def test_garbage_ca_is_a_config_error() -> None:
    with pytest.raises(ImapSettingsError, match="ca_certificate"):
        tls_context("-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n")
