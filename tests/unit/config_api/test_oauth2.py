"""OAuth2 decisions: grants, consent URLs with state and PKCE, state verdicts, token answers, cache freshness."""

from __future__ import annotations

import urllib.parse
from datetime import UTC, datetime, timedelta

import pytest

from intake.config_api.oauth2 import (
    ConsentRequest,
    Flavour,
    Grant,
    Refused,
    StateProblem,
    Tokens,
    Unavailable,
    authorize_url,
    flavour_of,
    grant_for,
    microsoft_authority,
    microsoft_authorize_endpoint,
    pkce_challenge,
    state_digest,
    state_problem,
    still_fresh,
    token_response,
)

NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)


def _query(url: str) -> dict[str, str]:
    return dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(url).query))


def test_flavours() -> None:
    assert flavour_of("gmail") is Flavour.GOOGLE
    assert flavour_of("outlook") is Flavour.MICROSOFT
    assert flavour_of("custom") is None


@pytest.mark.parametrize(
    ("flavour", "refresh", "secret", "expected"),
    [
        (Flavour.MICROSOFT, True, True, Grant.REFRESH_TOKEN),
        (Flavour.MICROSOFT, False, True, Grant.CLIENT_CREDENTIALS),
        (Flavour.GOOGLE, True, False, Grant.REFRESH_TOKEN),
    ],
)
def test_grant_for(flavour: Flavour, refresh: bool, secret: bool, expected: Grant) -> None:
    assert grant_for(flavour, has_refresh_token=refresh, has_client_secret=secret) is expected


def test_no_grant_says_why() -> None:
    assert "connect the inbox" in str(grant_for(Flavour.GOOGLE, has_refresh_token=False, has_client_secret=True))
    reason = grant_for(Flavour.MICROSOFT, has_refresh_token=False, has_client_secret=False)
    assert isinstance(reason, str)
    assert "client secret" in reason


def test_google_consent_url_asks_offline_access_with_pkce() -> None:
    request = ConsentRequest("cid", "https://intake.example/api/v1/oauth2/callback", "st", "ch", "desk@example.com")
    url = authorize_url(Flavour.GOOGLE, "https://accounts.google.com/o/oauth2/v2/auth", request)
    assert url.startswith("https://accounts.google.com/o/oauth2/v2/auth?")
    assert _query(url) == {
        "response_type": "code",
        "client_id": "cid",
        "redirect_uri": "https://intake.example/api/v1/oauth2/callback",
        "state": "st",
        "code_challenge": "ch",
        "code_challenge_method": "S256",
        "scope": "https://mail.google.com/",
        "access_type": "offline",
        "prompt": "consent",
        "login_hint": "desk@example.com",
    }


def test_microsoft_consent_url_asks_imap_and_offline_access() -> None:
    endpoint = microsoft_authorize_endpoint(microsoft_authority("https://login.microsoftonline.com", "t1"))
    assert endpoint == "https://login.microsoftonline.com/t1/oauth2/v2.0/authorize"
    query = _query(authorize_url(Flavour.MICROSOFT, endpoint, ConsentRequest("cid", "https://x/cb", "st", "ch")))
    assert query["scope"] == "https://outlook.office365.com/IMAP.AccessAsUser.All offline_access"
    assert query["code_challenge_method"] == "S256"
    assert "login_hint" not in query


def test_microsoft_authority_without_tenant_is_common() -> None:
    assert microsoft_authority("https://login.microsoftonline.com/", None) == "https://login.microsoftonline.com/common"


def test_pkce_challenge_matches_rfc_7636_appendix_b() -> None:
    verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
    assert pkce_challenge(verifier) == "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"


def test_state_digest_is_sha256() -> None:
    assert len(state_digest("abc")) == 32
    assert state_digest("abc") != state_digest("abd")


@pytest.mark.parametrize(
    ("found", "used", "expires_at", "expected"),
    [
        (False, False, None, StateProblem.UNKNOWN),
        (True, True, NOW + timedelta(minutes=5), StateProblem.USED),
        (True, False, NOW, StateProblem.EXPIRED),
        (True, False, NOW + timedelta(seconds=1), None),
    ],
)
def test_state_problem(found: bool, used: bool, expires_at: datetime | None, expected: StateProblem | None) -> None:
    assert state_problem(found=found, used=used, expires_at=expires_at, now=NOW) == expected


def test_token_success_with_rotation() -> None:
    answer = token_response(200, {"access_token": "at", "expires_in": "3599", "refresh_token": "rt2"}, NOW)
    assert answer == Tokens("at", NOW + timedelta(seconds=3599), "rt2")


def test_token_success_without_refresh_token() -> None:
    answer = token_response(200, {"access_token": "at", "expires_in": 60}, NOW)
    assert isinstance(answer, Tokens)
    assert answer.refresh_token is None


@pytest.mark.parametrize("error", ["invalid_grant", "invalid_client", "unauthorized_client", "invalid_scope"])
def test_oauth_errors_are_refusals(error: str) -> None:
    answer = token_response(400, {"error": error, "error_description": "AADSTS700082: expired\nTrace ID: x"}, NOW)
    assert answer == Refused(error, "AADSTS700082: expired")
    assert answer.reason == f"the provider refused the token request: {error} (AADSTS700082: expired)"


@pytest.mark.parametrize(
    ("status", "body"),
    [
        (503, {"error": "temporarily_unavailable"}),
        (400, {"error": "server_error"}),
        (500, {"error": "invalid_grant"}),
        (429, {"error": "invalid_request"}),
        (502, "<html>bad gateway</html>"),
        (200, {"expires_in": 60}),
        (200, {"access_token": "at", "expires_in": "soon"}),
        (200, {"access_token": "at", "expires_in": 0}),
        (302, None),
    ],
)
def test_transient_or_garbled_answers_are_unavailable(status: int, body: object) -> None:
    assert isinstance(token_response(status, body, NOW), Unavailable)


def test_still_fresh_renews_two_minutes_early_for_long_tokens() -> None:
    expires = NOW + timedelta(hours=1)
    assert still_fresh(expires, NOW, expires - timedelta(minutes=2, seconds=1))
    assert not still_fresh(expires, NOW, expires - timedelta(minutes=2))


def test_still_fresh_renews_at_ninety_percent_for_short_tokens() -> None:
    expires = NOW + timedelta(seconds=100)
    assert still_fresh(expires, NOW, NOW + timedelta(seconds=89))
    assert not still_fresh(expires, NOW, NOW + timedelta(seconds=90))


def test_docstring_examples() -> None:
    import doctest

    from intake.config_api import oauth2

    result = doctest.testmod(oauth2)
    assert result.attempted > 0
    assert result.failed == 0
