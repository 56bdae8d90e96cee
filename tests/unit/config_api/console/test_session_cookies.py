"""The console's cookie signing, CSRF tokens and `next` targets, with their docstring examples."""

from __future__ import annotations

import doctest

from intake.config_api.console import labels, rendering, session_cookies
from intake.config_api.console.session_cookies import (
    admin_token_mac,
    console_key,
    csrf_token,
    new_session,
    session_digest,
    session_id_from,
    sign_in_nonce,
    sign_in_nonce_ok,
)


def test_docstring_examples() -> None:
    for module in (session_cookies, labels, rendering):
        result = doctest.testmod(module)
        assert result.attempted > 0, module.__name__
        assert result.failed == 0, module.__name__


def test_a_cookie_signed_with_another_key_is_refused() -> None:
    session = new_session(console_key("key-one"))
    assert session_id_from(console_key("key-one"), session.cookie) is not None
    assert session_id_from(console_key("key-two"), session.cookie) is None


def test_only_the_first_of_rotating_keys_signs() -> None:
    assert console_key("new, old") == console_key("new")
    assert console_key("new") != console_key("old")


def test_the_database_keeps_only_a_digest_of_the_session_id() -> None:
    key = console_key("k")
    session = new_session(key)
    session_id = session.cookie.split(".")[0]
    assert session.session_sha256 == session_digest(session_id)
    assert session_id.encode() not in session.session_sha256


def test_csrf_tokens_differ_per_session_and_are_stable_within_one() -> None:
    key = console_key("k")
    assert csrf_token(key, "a") == csrf_token(key, "a")
    assert csrf_token(key, "a") != csrf_token(key, "b")


def test_a_changed_admin_token_changes_its_mac() -> None:
    key = console_key("k")
    assert admin_token_mac(key, "token-1") != admin_token_mac(key, "token-2")


def test_the_sign_in_nonce_binds_field_to_cookie() -> None:
    key = console_key("k")
    cookie, field = sign_in_nonce(key)
    assert sign_in_nonce_ok(key, cookie, field)
    other_cookie, _ = sign_in_nonce(key)
    assert not sign_in_nonce_ok(key, other_cookie, field)
    assert not sign_in_nonce_ok(key, None, field)
    assert not sign_in_nonce_ok(key, cookie, None)
