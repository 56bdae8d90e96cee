"""The fetcher's access-token client against an HTTP endpoint speaking config-api's internal contract."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest

from intake.fetcher.auth import AccessTokens
from intake.fetcher.errors import AccessTokenError, AccessTokenRefused, NeedsReauth
from tests.support.access_tokens import AccessTokenEndpoint, Answer, needs_reauth_answer, token_answer
from tests.support.dovecot import _free_port

SERVICE_TOKEN = "service-token-for-tests"


@pytest.fixture
def endpoint() -> Iterator[AccessTokenEndpoint]:
    server = AccessTokenEndpoint(SERVICE_TOKEN)
    server.start()
    try:
        yield server
    finally:
        server.stop()


def tokens_for(
    endpoint: AccessTokenEndpoint, inbox_id: int = 7, service_token: str | None = SERVICE_TOKEN
) -> AccessTokens:
    return AccessTokens(endpoint.url, service_token, inbox_id, 5.0)


async def test_a_token_is_cached_until_shortly_before_it_expires(endpoint: AccessTokenEndpoint) -> None:
    endpoint.answer(7, token_answer("access-1", "support@example.com"))
    tokens = tokens_for(endpoint)

    first = await tokens.get()
    again = await tokens.get()

    assert (first.access_token, first.username) == ("access-1", "support@example.com")
    assert again is first
    assert endpoint.asked(7) == 1
    assert "access-1" not in repr(first)


async def test_a_token_about_to_expire_is_asked_for_again(endpoint: AccessTokenEndpoint) -> None:
    endpoint.answer(7, token_answer("short", "u", lifetime=timedelta(seconds=30)))
    tokens = tokens_for(endpoint)
    await tokens.get()
    endpoint.answer(7, token_answer("long", "u"))

    assert (await tokens.get()).access_token == "long"
    assert endpoint.asked(7) == 2


async def test_forget_drops_the_cached_token(endpoint: AccessTokenEndpoint) -> None:
    endpoint.answer(7, token_answer("access", "u"))
    tokens = tokens_for(endpoint)
    await tokens.get()
    tokens.forget()
    await tokens.get()
    assert endpoint.asked(7) == 2


async def test_needs_reauth(endpoint: AccessTokenEndpoint) -> None:
    endpoint.answer(7, needs_reauth_answer("AADSTS70008: the refresh token has expired"))
    with pytest.raises(NeedsReauth, match="AADSTS70008"):
        await tokens_for(endpoint).get()


@pytest.mark.parametrize(
    ("answer", "error", "words"),
    [
        (Answer(404, {"error": "not_found", "detail": "not an oauth2 inbox"}), AccessTokenRefused, "not an oauth2"),
        (Answer(503, {"error": "unavailable", "detail": "provider down"}), AccessTokenError, "503: provider down"),
        (Answer(502, {"error": "bad_gateway"}), AccessTokenError, "502"),
        (Answer(200, {"access_token": "x"}), AccessTokenError, "unreadable"),
    ],
)
async def test_other_answers(endpoint: AccessTokenEndpoint, answer: Answer, error: type[Exception], words: str) -> None:
    endpoint.answer(7, answer)
    with pytest.raises(error, match=words) as raised:
        await tokens_for(endpoint).get()
    assert not isinstance(raised.value, NeedsReauth)
    if error is AccessTokenError:
        assert not isinstance(raised.value, AccessTokenRefused)  # transient: retried with backoff


async def test_wrong_service_token(endpoint: AccessTokenEndpoint) -> None:
    endpoint.answer(7, token_answer("access", "u"))
    with pytest.raises(AccessTokenRefused, match="INTAKE_SERVICE_TOKEN") as raised:
        await tokens_for(endpoint, service_token="wrong").get()
    assert "wrong" not in str(raised.value)


async def test_without_a_service_token_nothing_is_asked(endpoint: AccessTokenEndpoint) -> None:
    with pytest.raises(AccessTokenRefused, match="INTAKE_SERVICE_TOKEN is not set"):
        await tokens_for(endpoint, service_token=None).get()
    assert endpoint.requests == []


async def test_config_api_unreachable() -> None:
    tokens = AccessTokens(f"http://127.0.0.1:{_free_port()}", SERVICE_TOKEN, 7, 5.0)
    with pytest.raises(AccessTokenError, match="cannot be reached"):
        await tokens.get()
