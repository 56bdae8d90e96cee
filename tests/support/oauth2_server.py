"""A fake OAuth2 authorization server for the tests: Google-style and Microsoft-style endpoints over TLS.

It does what config-api and Dovecot need of Google and the Microsoft identity platform, no more:
authorize (auto-consent, or a refusal), token (authorization_code with PKCE S256, refresh_token with
rotation, client_credentials), access token expiry, revocation (→ invalid_grant), an RFC 7662 introspection
endpoint for Dovecot's oauth2 passdb, and the OpenID discovery document msal reads for a tenant.

msal accepts only https authorities, so the server speaks TLS with a throwaway CA (`ca_file`); the same
handler also listens in plain HTTP (`http_url`) for clients that are simpler to point at it (Dovecot).
Every request is recorded (`requests`) so tests can count token calls.

Paths: `/google/authorize`, `/google/token`; `/{tenant}/oauth2/v2.0/authorize`, `/{tenant}/oauth2/v2.0/token`,
`/{tenant}/v2.0/.well-known/openid-configuration`; `/introspect` (POST form `token`, GET `?token=`, or
`Authorization: Bearer`).
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import shutil
import ssl
import tempfile
import threading
import time
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from tests.support.dovecot import make_certificates

HOST = "127.0.0.1"


@dataclass
class FakeClient:
    client_id: str
    client_secret: str | None
    username: str


@dataclass
class RecordedRequest:
    method: str
    path: str
    form: dict[str, str]
    status: int | None = None  # the HTTP status answered (token requests)

    @property
    def grant_type(self) -> str | None:
        return self.form.get("grant_type")


@dataclass
class _Code:
    client_id: str
    redirect_uri: str
    challenge: str
    scope: str
    used: bool = False


@dataclass
class _AccessToken:
    client_id: str
    username: str
    scope: str
    expires_at: float


@dataclass
class _RefreshToken:
    client_id: str
    username: str
    scope: str
    revoked: bool = False


@dataclass
class FakeOAuth2Server:
    """The server's state; the HTTP handler reads and changes it under `lock`."""

    root: Path
    access_token_lifetime: int = 3600
    rotate_refresh_tokens: bool = True
    clients: dict[str, FakeClient] = field(default_factory=dict)
    requests: list[RecordedRequest] = field(default_factory=list)
    # While set, every request but introspection answers this HTTP status (an outage), e.g. 503.
    outage_status: int | None = None
    # While set, token requests are answered 200 with an HTML page instead of JSON (a broken proxy).
    garbled_token_answers: bool = False
    # The next authorize request is answered with this OAuth2 error instead of a code, e.g. "access_denied".
    deny_next_authorize: str | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)
    _codes: dict[str, _Code] = field(default_factory=dict)
    _access: dict[str, _AccessToken] = field(default_factory=dict)
    _refresh: dict[str, _RefreshToken] = field(default_factory=dict)
    https_port: int = 0
    http_port: int = 0

    # -- what tests set up and check --------------------------------------------------------------------

    @property
    def https_url(self) -> str:
        return f"https://{HOST}:{self.https_port}"

    @property
    def http_url(self) -> str:
        return f"http://{HOST}:{self.http_port}"

    @property
    def ca_file(self) -> Path:
        return self.root / "ca.pem"

    @property
    def google_authorize_url(self) -> str:
        return f"{self.https_url}/google/authorize"

    @property
    def google_token_url(self) -> str:
        return f"{self.https_url}/google/token"

    @property
    def microsoft_authority(self) -> str:
        return self.https_url

    @property
    def introspection_url(self) -> str:
        """Plain HTTP, for Dovecot's oauth2 passdb (`introspection_url`)."""
        return f"{self.http_url}/introspect"

    def register_client(self, username: str, *, client_secret: str | None = "client-secret") -> FakeClient:
        """A new client registration whose grants all sign in as `username` (the mailbox's login)."""
        client = FakeClient(f"client-{secrets.token_hex(4)}", client_secret, username)
        with self.lock:
            self.clients[client.client_id] = client
        return client

    def issue_refresh_token(self, client: FakeClient, scope: str = "https://mail.google.com/") -> str:
        """A refresh token as if the person had consented earlier (a stored grant)."""
        token = "rt-" + secrets.token_urlsafe(16)
        with self.lock:
            self._refresh[token] = _RefreshToken(client.client_id, client.username, scope)
        return token

    def revoke(self, client_id: str) -> None:
        """Revoke every refresh token of a client (the person removed the app's access)."""
        with self.lock:
            for token in self._refresh.values():
                if token.client_id == client_id:
                    token.revoked = True

    def expire_access_tokens(self) -> None:
        with self.lock:
            for token in self._access.values():
                token.expires_at = 0.0

    def active_access_tokens(self, client_id: str) -> list[str]:
        """The client's access tokens that have not expired yet."""
        now = time.time()
        with self.lock:
            return [t for t, at in self._access.items() if at.client_id == client_id and at.expires_at > now]

    def live_refresh_tokens(self, client_id: str) -> list[str]:
        with self.lock:
            return [t for t, rt in self._refresh.items() if rt.client_id == client_id and not rt.revoked]

    def issued_secrets(self, client_id: str) -> list[str]:
        """Every authorization code, access token and refresh token ever issued to the client (none is forgotten)."""
        with self.lock:
            return [
                *(c for c, code in self._codes.items() if code.client_id == client_id),
                *(t for t, at in self._access.items() if at.client_id == client_id),
                *(t for t, rt in self._refresh.items() if rt.client_id == client_id),
            ]

    def token_requests(self, grant_type: str | None = None, client_id: str | None = None) -> list[RecordedRequest]:
        with self.lock:
            return [
                r
                for r in self.requests
                if r.path.endswith("/token")
                and (grant_type is None or r.grant_type == grant_type)
                and (client_id is None or r.form.get("client_id") == client_id)
            ]

    # -- protocol ------------------------------------------------------------------------------------

    def authorize(self, query: dict[str, str]) -> tuple[int, dict[str, str]]:
        """Auto-consent: a redirect back with a code, or with `deny_next_authorize` as the error."""
        redirect_uri, state = query.get("redirect_uri", ""), query.get("state", "")
        with self.lock:
            client = self.clients.get(query.get("client_id", ""))
            if client is None or not redirect_uri:
                return 400, {}
            if self.deny_next_authorize:
                error, self.deny_next_authorize = self.deny_next_authorize, None
                params = {"error": error, "error_description": "The user declined.", "state": state}
            else:
                code = "code-" + secrets.token_urlsafe(16)
                self._codes[code] = _Code(
                    client.client_id, redirect_uri, query.get("code_challenge", ""), query.get("scope", "")
                )
                params = {"code": code, "state": state}
        separator = "&" if "?" in redirect_uri else "?"
        return 302, {"Location": redirect_uri + separator + urllib.parse.urlencode(params)}

    def _new_access(self, client_id: str, username: str, scope: str) -> dict[str, Any]:
        token = "at-" + secrets.token_urlsafe(24)
        self._access[token] = _AccessToken(client_id, username, scope, time.time() + self.access_token_lifetime)
        return {
            "token_type": "Bearer",
            "access_token": token,
            "expires_in": self.access_token_lifetime,
            "ext_expires_in": self.access_token_lifetime,
            "scope": scope,
        }

    def _new_refresh(self, client_id: str, username: str, scope: str) -> str:
        token = "rt-" + secrets.token_urlsafe(16)
        self._refresh[token] = _RefreshToken(client_id, username, scope)
        return token

    def token(self, form: dict[str, str], basic: tuple[str, str] | None) -> tuple[int, dict[str, Any]]:
        with self.lock:
            if self.outage_status is not None:
                return self.outage_status, {"error": "temporarily_unavailable"}
            client_id, secret = basic or (form.get("client_id", ""), form.get("client_secret"))
            client = self.clients.get(client_id)
            if client is None:
                return 401, {"error": "invalid_client", "error_description": "unknown client"}
            grant = form.get("grant_type")
            if client.client_secret is not None and secret != client.client_secret and grant != "refresh_token":
                return 401, {"error": "invalid_client", "error_description": "bad client secret"}
            if grant == "authorization_code":
                return self._code_grant(client, form)
            if grant == "refresh_token":
                if client.client_secret is not None and secret != client.client_secret:
                    return 401, {"error": "invalid_client", "error_description": "bad client secret"}
                return self._refresh_grant(client, form)
            if grant == "client_credentials":
                if client.client_secret is None:
                    return 400, {"error": "unauthorized_client", "error_description": "no secret registered"}
                return 200, self._new_access(client.client_id, client.username, form.get("scope", ""))
            return 400, {"error": "unsupported_grant_type"}

    def _code_grant(self, client: FakeClient, form: dict[str, str]) -> tuple[int, dict[str, Any]]:
        code = self._codes.get(form.get("code", ""))
        if code is None or code.used or code.client_id != client.client_id:
            return 400, {"error": "invalid_grant", "error_description": "unknown or used authorization code"}
        code.used = True
        if code.redirect_uri != form.get("redirect_uri"):
            return 400, {"error": "invalid_grant", "error_description": "redirect_uri does not match"}
        verifier = form.get("code_verifier", "")
        digest = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
        if not code.challenge or digest != code.challenge:
            return 400, {"error": "invalid_grant", "error_description": "PKCE verification failed"}
        body = self._new_access(client.client_id, client.username, code.scope)
        body["refresh_token"] = self._new_refresh(client.client_id, client.username, code.scope)
        return 200, body

    def _refresh_grant(self, client: FakeClient, form: dict[str, str]) -> tuple[int, dict[str, Any]]:
        presented = form.get("refresh_token", "")
        grant = self._refresh.get(presented)
        if grant is None or grant.revoked or grant.client_id != client.client_id:
            return 400, {"error": "invalid_grant", "error_description": "Token has been expired or revoked."}
        body = self._new_access(client.client_id, grant.username, grant.scope)
        if self.rotate_refresh_tokens:
            grant.revoked = True
            body["refresh_token"] = self._new_refresh(client.client_id, grant.username, grant.scope)
        return 200, body

    def introspect(self, token: str) -> dict[str, Any]:
        with self.lock:
            access = self._access.get(token)
            if access is None or access.expires_at <= time.time():
                return {"active": False}
            return {
                "active": True,
                "username": access.username,
                "client_id": access.client_id,
                "scope": access.scope,
                "exp": int(access.expires_at),
            }

    def openid_configuration(self, tenant: str) -> dict[str, Any]:
        base = f"{self.https_url}/{tenant}"
        return {
            "issuer": f"{base}/v2.0",
            "authorization_endpoint": f"{base}/oauth2/v2.0/authorize",
            "token_endpoint": f"{base}/oauth2/v2.0/token",
            "response_types_supported": ["code"],
            "subject_types_supported": ["pairwise"],
            "id_token_signing_alg_values_supported": ["RS256"],
        }


class _Handler(BaseHTTPRequestHandler):
    server_version = "FakeOAuth2"
    fake: FakeOAuth2Server  # set on the subclass per server

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _send(self, status: int, body: Any = None, headers: dict[str, str] | None = None) -> None:
        payload = json.dumps(body).encode() if body is not None else b""
        self.send_response(status)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        if body is not None:
            self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def _record(self, form: dict[str, str]) -> RecordedRequest:
        record = RecordedRequest(self.command, urllib.parse.urlsplit(self.path).path, form)
        with self.fake.lock:
            self.fake.requests.append(record)
        return record

    def do_GET(self) -> None:
        parts = urllib.parse.urlsplit(self.path)
        query = dict(urllib.parse.parse_qsl(parts.query))
        path = self._record(query).path
        segments = path.strip("/").split("/")
        if self.fake.outage_status is not None and path != "/introspect":
            self._send(self.fake.outage_status, {"error": "temporarily_unavailable"})
        elif path.endswith("/authorize"):
            status, headers = self.fake.authorize(query)
            self._send(status, None if status == 302 else {"error": "invalid_request"}, headers)
        elif path.endswith("/v2.0/.well-known/openid-configuration"):
            self._send(200, self.fake.openid_configuration(segments[0]))
        elif path == "/introspect":
            self._send(200, self.fake.introspect(query.get("token") or self._bearer()))
        else:
            self._send(404, {"error": "not_found"})

    def _bearer(self) -> str:
        value = self.headers.get("Authorization", "")
        return value[7:].strip() if value.lower().startswith("bearer ") else ""

    def _basic(self) -> tuple[str, str] | None:
        value = self.headers.get("Authorization", "")
        if not value.lower().startswith("basic "):
            return None
        user, _, password = base64.b64decode(value[6:]).decode().partition(":")
        return urllib.parse.unquote(user), urllib.parse.unquote(password)

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        form = dict(urllib.parse.parse_qsl(self.rfile.read(length).decode()))
        record = self._record(form)
        path = record.path
        if path.endswith("/token") and self.fake.garbled_token_answers:
            record.status = 200
            page = b"<html><body>Proxy error</body></html>"
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(page)))
            self.end_headers()
            self.wfile.write(page)
        elif path.endswith("/token"):
            status, body = self.fake.token(form, self._basic())
            record.status = status
            self._send(status, body, {"Cache-Control": "no-store"})
        elif path == "/introspect":
            self._send(200, self.fake.introspect(form.get("token") or self._bearer()))
        else:
            self._send(404, {"error": "not_found"})


def _serve(fake: FakeOAuth2Server, context: ssl.SSLContext | None) -> ThreadingHTTPServer:
    handler = type("Handler", (_Handler,), {"fake": fake})
    server = ThreadingHTTPServer((HOST, 0), handler)
    server.daemon_threads = True
    if context is not None:
        server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, name="fake-oauth2", daemon=True).start()
    return server


@pytest.fixture
def oauth2_server() -> Iterator[FakeOAuth2Server]:
    """A running fake OAuth2 server for one test (https and plain http), its CA in `ca_file`."""
    root = Path(tempfile.mkdtemp(prefix="intake-oauth2-"))
    certificates = make_certificates()
    fake = FakeOAuth2Server(root)
    fake.ca_file.write_text(certificates.ca_pem)
    (root / "server.pem").write_text(certificates.server_cert_pem + certificates.server_key_pem)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(root / "server.pem")
    servers = [_serve(fake, context), _serve(fake, None)]
    fake.https_port, fake.http_port = (int(s.server_address[1]) for s in servers)
    try:
        yield fake
    finally:
        for server in servers:
            server.shutdown()
            server.server_close()
        shutil.rmtree(root, ignore_errors=True)
