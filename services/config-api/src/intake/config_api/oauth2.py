"""OAuth2 decisions without I/O: which grant an inbox uses, the consent URL with state and PKCE, whether a
returned state is acceptable, what a token endpoint's answer means, and when a cached token is stale.

Pure: no HTTP, no database, no clock (callers pass `now`), no randomness (callers pass state and verifier).
"""

from __future__ import annotations

import base64
import hashlib
import urllib.parse
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

GOOGLE_SCOPE = "https://mail.google.com/"
# Delegated access to one mailbox over IMAP; offline_access asks for a refresh token.
MICROSOFT_DELEGATED_SCOPE = "https://outlook.office365.com/IMAP.AccessAsUser.All"
MICROSOFT_DELEGATED_SCOPES = (MICROSOFT_DELEGATED_SCOPE, "offline_access")
# App-only (client credentials): the permissions granted to the app registration itself.
MICROSOFT_APP_SCOPE = "https://outlook.office365.com/.default"
# Without a tenant, a delegated grant signs in through the multi-tenant endpoint.
MICROSOFT_DEFAULT_TENANT = "common"

# A cached access token is renewed this long before it expires, at most (10 % of its lifetime if shorter),
# so the fetcher never logs in with a token that expires on the way.
RENEW_BEFORE = timedelta(minutes=2)


class Flavour(StrEnum):
    """Which identity platform an inbox's OAuth2 grant comes from."""

    GOOGLE = "google"
    MICROSOFT = "microsoft"


_FLAVOURS = {"gmail": Flavour.GOOGLE, "outlook": Flavour.MICROSOFT}


def flavour_of(provider: str) -> Flavour | None:
    """The identity platform behind a provider preset; None for presets without an OAuth2 flow here.

    >>> flavour_of("outlook"), flavour_of("yahoo")
    (<Flavour.MICROSOFT: 'microsoft'>, None)
    """
    return _FLAVOURS.get(provider)


class Grant(StrEnum):
    """How an access token is obtained for an inbox."""

    REFRESH_TOKEN = "refresh_token"  # noqa: S105 - a grant type, not a password
    CLIENT_CREDENTIALS = "client_credentials"


def grant_for(flavour: Flavour, *, has_refresh_token: bool, has_client_secret: bool) -> Grant | str:
    """The grant to use, or why none can be used (the inbox then needs a person to connect it).

    Microsoft uses the stored refresh token (delegated) when there is one, else app-only client
    credentials, which need the client secret. Gmail has no app-only grant for IMAP.

    >>> grant_for(Flavour.MICROSOFT, has_refresh_token=False, has_client_secret=True)
    <Grant.CLIENT_CREDENTIALS: 'client_credentials'>
    >>> grant_for(Flavour.GOOGLE, has_refresh_token=False, has_client_secret=True)
    'no refresh token is stored: connect the inbox (OAuth2 authorize)'
    """
    if has_refresh_token:
        return Grant.REFRESH_TOKEN
    if flavour is Flavour.MICROSOFT and has_client_secret:
        return Grant.CLIENT_CREDENTIALS
    if flavour is Flavour.MICROSOFT:
        return "no refresh token and no client secret are stored: connect the inbox or set its client secret"
    return "no refresh token is stored: connect the inbox (OAuth2 authorize)"


def microsoft_authority(base: str, tenant_id: str | None) -> str:
    """The msal authority URL for a tenant.

    >>> microsoft_authority("https://login.microsoftonline.com/", "contoso.onmicrosoft.com")
    'https://login.microsoftonline.com/contoso.onmicrosoft.com'
    """
    return f"{base.rstrip('/')}/{tenant_id or MICROSOFT_DEFAULT_TENANT}"


def pkce_challenge(verifier: str) -> str:
    """The S256 code challenge of a PKCE code verifier (RFC 7636 §4.2).

    >>> pkce_challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk")
    'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM'
    """
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def state_digest(state: str) -> bytes:
    """What is stored of a state: its SHA-256, so the table alone cannot complete anyone's consent."""
    return hashlib.sha256(state.encode("utf-8")).digest()


@dataclass(frozen=True)
class ConsentRequest:
    """Everything the consent URL carries besides the provider's address."""

    client_id: str
    redirect_url: str
    state: str
    code_challenge: str
    login_hint: str | None = None


def authorize_url(flavour: Flavour, endpoint: str, request: ConsentRequest) -> str:
    """The provider's consent page for an authorization code with PKCE (RFC 6749 §4.1.1, RFC 7636 §4.3).

    Google: offline access and a forced consent prompt, so a refresh token is issued even on a second
    connect. Microsoft: the IMAP scope and offline_access. `endpoint` is the authorization endpoint.
    """
    params = {
        "response_type": "code",
        "client_id": request.client_id,
        "redirect_uri": request.redirect_url,
        "state": request.state,
        "code_challenge": request.code_challenge,
        "code_challenge_method": "S256",
    }
    if flavour is Flavour.GOOGLE:
        params |= {"scope": GOOGLE_SCOPE, "access_type": "offline", "prompt": "consent"}
    else:
        params |= {"scope": " ".join(MICROSOFT_DELEGATED_SCOPES), "response_mode": "query"}
    if request.login_hint:
        params["login_hint"] = request.login_hint
    separator = "&" if "?" in endpoint else "?"
    return endpoint + separator + urllib.parse.urlencode(params, quote_via=urllib.parse.quote)


def microsoft_authorize_endpoint(authority: str) -> str:
    """The v2.0 authorization endpoint under an authority URL."""
    return f"{authority}/oauth2/v2.0/authorize"


class StateProblem(StrEnum):
    """Why a callback's state is refused; each value is what the API reports as `error`."""

    MISSING = "state_missing"
    UNKNOWN = "state_unknown"
    USED = "state_used"
    EXPIRED = "state_expired"


STATE_PROBLEM_DETAIL = {
    StateProblem.MISSING: "the callback has no state parameter; start again from the inbox's Connect link",
    StateProblem.UNKNOWN: (
        "the state is not one this service issued (forged, or from another deployment); "
        "start again from the inbox's Connect link"
    ),
    StateProblem.USED: "this consent was already completed once (a state is single use); start again to reconnect",
    StateProblem.EXPIRED: "the consent took too long and its state expired; start again from the inbox's Connect link",
}


def state_problem(*, found: bool, used: bool, expires_at: datetime | None, now: datetime) -> StateProblem | None:
    """Whether a stored state may complete a consent now; None when it may.

    >>> from datetime import UTC
    >>> t = datetime(2026, 1, 1, tzinfo=UTC)
    >>> state_problem(found=True, used=False, expires_at=t, now=t)
    <StateProblem.EXPIRED: 'state_expired'>
    """
    if not found:
        return StateProblem.UNKNOWN
    if used:
        return StateProblem.USED
    if expires_at is None or now >= expires_at:
        return StateProblem.EXPIRED
    return None


@dataclass(frozen=True)
class Tokens:
    """A successful token response: the access token, when it expires, and a new refresh token if one came."""

    access_token: str
    expires_at: datetime
    refresh_token: str | None


@dataclass(frozen=True)
class Refused:
    """The provider answered with an OAuth2 error (RFC 6749 §5.2): the grant is unusable until a person acts."""

    error: str
    description: str

    @property
    def reason(self) -> str:
        text = f"the provider refused the token request: {self.error}"
        return f"{text} ({self.description})" if self.description else text


@dataclass(frozen=True)
class Unavailable:
    """The provider could not answer properly (5xx, bad body): try again later, the grant may be fine."""

    reason: str


# Errors that mean "try again later", not "this grant is dead" (RFC 6749 §4.1.2.1, OpenID Connect).
_TRANSIENT_ERRORS = frozenset({"temporarily_unavailable", "server_error", "slow_down"})
_DESCRIPTION_LIMIT = 300


def token_response(status: int, body: Any, now: datetime) -> Tokens | Refused | Unavailable:
    """What a token endpoint's answer means. `body` is the decoded JSON (anything, if it was not JSON).

    >>> from datetime import UTC
    >>> t = datetime(2026, 1, 1, tzinfo=UTC)
    >>> token_response(400, {"error": "invalid_grant", "error_description": "Token has been revoked."}, t).reason
    'the provider refused the token request: invalid_grant (Token has been revoked.)'
    >>> token_response(502, "<html>", t)
    Unavailable(reason='the token endpoint answered HTTP 502')
    >>> token_response(200, {"access_token": "a", "expires_in": 60}, t).expires_at.minute
    1
    """
    if not isinstance(body, dict):
        body = {}
    error = body.get("error")
    if isinstance(error, str) and error:
        description = str(body.get("error_description") or "").strip().splitlines()
        text = description[0][:_DESCRIPTION_LIMIT] if description else ""
        if error in _TRANSIENT_ERRORS or status >= 500 or status == 429:
            return Unavailable(f"the token endpoint answered {error}" + (f" ({text})" if text else ""))
        return Refused(error, text)
    if not 200 <= status < 300:
        return Unavailable(f"the token endpoint answered HTTP {status}")
    access_token = body.get("access_token")
    expires_in = body.get("expires_in")
    if not isinstance(access_token, str) or not access_token:
        return Unavailable("the token endpoint's answer has no access_token")
    try:
        lifetime = int(expires_in)
    except (TypeError, ValueError):
        return Unavailable("the token endpoint's answer has no valid expires_in")
    if lifetime <= 0:
        return Unavailable("the token endpoint's answer has no valid expires_in")
    refresh = body.get("refresh_token")
    return Tokens(
        access_token, now + timedelta(seconds=lifetime), refresh if isinstance(refresh, str) and refresh else None
    )


def still_fresh(expires_at: datetime, issued_at: datetime, now: datetime) -> bool:
    """Whether a cached access token may still be handed out: not within the renewal margin of expiry.

    >>> from datetime import UTC
    >>> t = datetime(2026, 1, 1, tzinfo=UTC)
    >>> still_fresh(t + timedelta(hours=1), t, t + timedelta(minutes=58)), still_fresh(t + timedelta(hours=1), t, t)
    (False, True)
    """
    margin = min(RENEW_BEFORE, (expires_at - issued_at) / 10)
    return now < expires_at - margin
