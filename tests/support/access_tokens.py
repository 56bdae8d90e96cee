"""A stand-in for config-api's internal access-token endpoint, served by the test on loopback.

Speaks the contract the fetcher relies on (intake.fetcher.auth): `POST /internal/v1/inboxes/{id}/access-token`
with `Authorization: Bearer <service token>` → 200 `{access_token, expires_at, username}`, 409
`{"error": "needs_reauth", "detail"}`, 404, 401, 503. Each inbox's answer is set with `answer(...)`;
`requests` lists the inbox ids asked for, in order.
"""

from __future__ import annotations

import http.server
import json
import re
import threading
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

_PATH = re.compile(r"^/internal/v1/inboxes/(\d+)/access-token$")


@dataclass(frozen=True)
class Answer:
    status: int
    body: dict[str, object]


def token_answer(token: str, username: str, lifetime: timedelta = timedelta(hours=1)) -> Answer:
    expires_at = (datetime.now(UTC) + lifetime).isoformat()
    return Answer(200, {"access_token": token, "expires_at": expires_at, "username": username})


def needs_reauth_answer(detail: str = "the refresh token was revoked") -> Answer:
    return Answer(409, {"error": "needs_reauth", "detail": detail})


class AccessTokenEndpoint:
    def __init__(self, service_token: str) -> None:
        self.service_token = service_token
        self.requests: list[int] = []
        self._answers: dict[int, Answer] = {}
        self._lock = threading.Lock()
        endpoint = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                answer = endpoint._answer(self.path, self.headers.get("Authorization", ""))
                body = json.dumps(answer.body).encode()
                self.send_response(answer.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                pass

        self._http = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._http.daemon_threads = True
        self._thread = threading.Thread(target=self._http.serve_forever, name="access-tokens", daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._http.server_address[1]}"

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._http.shutdown()
        self._http.server_close()

    def answer(self, inbox_id: int, answer: Answer) -> None:
        with self._lock:
            self._answers[inbox_id] = answer

    def asked(self, inbox_id: int) -> int:
        with self._lock:
            return self.requests.count(inbox_id)

    def _answer(self, path: str, authorization: str) -> Answer:
        match = _PATH.match(path)
        if match is None:
            return Answer(404, {"error": "not_found", "detail": "no such endpoint"})
        if authorization != f"Bearer {self.service_token}":
            return Answer(401, {"error": "unauthorized", "detail": "wrong service token"})
        inbox_id = int(match.group(1))
        with self._lock:
            self.requests.append(inbox_id)
            return self._answers.get(inbox_id, Answer(404, {"error": "not_found", "detail": "not an oauth2 inbox"}))
