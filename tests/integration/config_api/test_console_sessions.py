"""Console sessions through the app (ASGI): the Secure flag over https and behind a trusted proxy, the admin
session ending when INTAKE_ADMIN_TOKEN changes, and the sign-in's `next` never leaving the site."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
from pydantic import SecretStr

from intake.config_api.app import create_app
from intake.config_api.settings import ConfigApiSettings


@asynccontextmanager
async def _console(settings: ConfigApiSettings, base_url: str = "http://console") -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(settings, wait_seconds=5)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url=base_url) as client,
    ):
        yield client


async def _sign_in(
    client: httpx.AsyncClient, token: str, headers: dict[str, str] | None = None, next_url: str = "/inboxes"
) -> httpx.Response:
    form = await client.get("/sign-in", headers=headers)
    nonce = re.search(r'name="nonce" value="([^"]+)"', form.text)
    assert nonce is not None
    # Sent back by hand: behind a trusted https proxy the cookie is Secure, which httpx keeps from plain http.
    cookie = re.search(r"intake_sign_in=([^;]+)", form.headers["set-cookie"])
    assert cookie is not None
    return await client.post(
        "/sign-in",
        data={"token": token, "nonce": nonce.group(1), "next": next_url},
        headers={**(headers or {}), "Cookie": f"intake_sign_in={cookie.group(1)}"},
    )


def _session_cookie(answer: httpx.Response) -> str:
    return next(c for c in answer.headers.get_list("set-cookie") if c.startswith("intake_session="))


async def test_the_cookie_is_secure_only_over_https_or_a_trusted_proxy(settings: ConfigApiSettings) -> None:
    async with _console(settings) as plain:
        answer = await _sign_in(plain, settings.admin_token.get_secret_value(), {"X-Forwarded-Proto": "https"})
        assert answer.status_code == 303
        cookie = _session_cookie(answer)
        assert "HttpOnly" in cookie
        assert "SameSite=strict" in cookie
        assert "Max-Age=43200" in cookie
        assert "Secure" not in cookie  # the header alone is not trusted
    async with _console(settings, "https://console") as tls:
        answer = await _sign_in(tls, settings.admin_token.get_secret_value())
        assert "Secure" in _session_cookie(answer)
    trusted = settings.model_copy(update={"console_trust_forwarded_proto": True, "console_session_minutes": 30})
    async with _console(trusted) as proxied:
        answer = await _sign_in(proxied, settings.admin_token.get_secret_value(), {"X-Forwarded-Proto": "https"})
        assert "Secure" in _session_cookie(answer)
        assert "Max-Age=1800" in _session_cookie(answer)


async def test_an_admin_session_ends_when_the_admin_token_changes(settings: ConfigApiSettings) -> None:
    async with _console(settings) as client:
        await _sign_in(client, settings.admin_token.get_secret_value())
        cookie = client.cookies["intake_session"]
        assert (await client.get("/inboxes")).status_code == 200
    changed = settings.model_copy(update={"admin_token": SecretStr("a-completely-new-admin-token-0123")})
    async with _console(changed) as client:
        client.cookies.set("intake_session", cookie)
        answer = await client.get("/inboxes")
        assert answer.status_code == 303
        assert answer.headers["location"] == "/sign-in?next=%2Finboxes"


async def test_next_never_leaves_the_site(settings: ConfigApiSettings) -> None:
    async with _console(settings) as client:
        answer = await _sign_in(client, settings.admin_token.get_secret_value(), next_url="//evil.example/x")
        assert answer.headers["location"] == "/inboxes"
