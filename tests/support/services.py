"""Where the test run finds PostgreSQL and RabbitMQ, and how it makes a fresh database and vhost.

Order: the URLs in INTAKE_TEST_DATABASE_URL / INTAKE_TEST_AMQP_URL when set; else the services on
loopback (the machines this project is developed on run both there); else testcontainers when a
Docker engine answers; else the tests that need them are skipped with the reason.
"""

from __future__ import annotations

import base64
import json
import socket
import urllib.error
import urllib.parse
import urllib.request
import uuid
from dataclasses import dataclass

LOOPBACK_DATABASE_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
LOOPBACK_AMQP_URL = "amqp://guest:guest@127.0.0.1:5672/"
LOOPBACK_RABBITMQ_API = "http://guest:guest@127.0.0.1:15672/api"


def port_open(host: str, port: int, timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def with_database(url: str, database: str) -> str:
    parts = urllib.parse.urlsplit(url)
    return urllib.parse.urlunsplit(parts._replace(path="/" + database))


def with_vhost(url: str, vhost: str) -> str:
    parts = urllib.parse.urlsplit(url)
    return urllib.parse.urlunsplit(parts._replace(path="/" + urllib.parse.quote(vhost, safe="")))


def unique_name(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:12]}"


@dataclass(frozen=True)
class RabbitMQ:
    """A RabbitMQ server: AMQP URL of its default vhost and its management API (for vhosts)."""

    amqp_url: str
    api_url: str

    def _request(self, method: str, path: str, body: dict[str, str] | None = None) -> None:
        parts = urllib.parse.urlsplit(self.api_url)
        netloc = parts.hostname or "127.0.0.1"
        if parts.port:
            netloc += f":{parts.port}"
        url = urllib.parse.urlunsplit(parts._replace(netloc=netloc)) + path
        request = urllib.request.Request(url, method=method, data=json.dumps(body or {}).encode())
        credentials = f"{parts.username or 'guest'}:{parts.password or 'guest'}".encode()
        request.add_header("Authorization", "Basic " + base64.b64encode(credentials).decode())
        request.add_header("Content-Type", "application/json")
        with urllib.request.urlopen(request, timeout=30):
            pass

    def create_vhost(self, vhost: str) -> str:
        """Create `vhost` with full permissions for the URL's user; return its AMQP URL."""
        user = urllib.parse.urlsplit(self.amqp_url).username or "guest"
        quoted = urllib.parse.quote(vhost, safe="")
        self._request("PUT", f"/vhosts/{quoted}")
        self._request(
            "PUT", f"/permissions/{quoted}/{urllib.parse.quote(user)}", {"configure": ".*", "write": ".*", "read": ".*"}
        )
        return with_vhost(self.amqp_url, vhost)

    def delete_vhost(self, vhost: str) -> None:
        try:
            self._request("DELETE", f"/vhosts/{urllib.parse.quote(vhost, safe='')}")
        except urllib.error.HTTPError as error:
            if error.code != 404:
                raise
