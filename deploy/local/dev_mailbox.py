"""`make run`'s development mailbox: Dovecot under `.run/dev-mailbox/` with one user, and an inbox for it.

The user's password is made once and kept in `mailbox.json` beside the mail (readable by the owner
only), so the inbox stored in config-api keeps working across restarts; `make send-sample` reads the
same file. The inbox is created through the config API, never twice: a restart finds it by address.
"""

from __future__ import annotations

import json
import os
import secrets
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from deploy.local.dovecot import HOST, DovecotServer, find_dovecot

DEV_ADDRESS = "dev@example.com"
DEFAULT_PORT = 10143
API_TIMEOUT_SECONDS = 10.0


class DevMailboxError(Exception):
    """The development mailbox cannot be set up; the message says why and what to do, in one line."""


@dataclass(frozen=True)
class DevMailbox:
    """Where the development mailbox listens and how to sign in to it (plain IMAP on loopback)."""

    host: str
    port: int
    username: str
    password: str

    @property
    def email(self) -> str:
        return self.username

    @classmethod
    def load(cls, root: Path) -> DevMailbox:
        """The mailbox `make run` set up under `root`, or DevMailboxError when there is none."""
        try:
            fields = json.loads((root / "mailbox.json").read_text(encoding="utf-8"))
            return cls(
                host=fields["host"], port=int(fields["port"]), username=fields["username"], password=fields["password"]
            )
        except (OSError, ValueError, KeyError, TypeError) as error:
            raise DevMailboxError(f"no development mailbox under {root} ({error}); start one with `make run`") from None

    def save(self, root: Path) -> None:
        path = root / "mailbox.json"
        temporary = root / ".mailbox.json.tmp"
        temporary.touch(mode=0o600)
        temporary.write_text(json.dumps(asdict(self), indent=2) + "\n", encoding="utf-8")
        os.replace(temporary, path)


def port_setting(value: str | None) -> int:
    """INTAKE_DEV_MAILBOX_PORT: a TCP port, default 10143."""
    if value is None or value.strip() == "":
        return DEFAULT_PORT
    try:
        port = int(value)
    except ValueError:
        port = 0
    if not 1 <= port <= 65535:
        raise DevMailboxError(f"INTAKE_DEV_MAILBOX_PORT must be a TCP port (1-65535), not {value!r}")
    return port


def start_dev_mailbox(root: Path, port: int) -> tuple[DovecotServer, DevMailbox, bool]:
    """Start Dovecot on 127.0.0.1:`port` with its files under `root`.

    The user's password is kept across runs; the third value says it was made just now (so an inbox
    stored earlier needs it).
    """
    binary = find_dovecot()
    if binary is None:
        raise DevMailboxError(
            "the development mailbox needs Debian's Dovecot: apt-get install dovecot-imapd "
            "(or set INTAKE_DEV_MAILBOX=off to run without it)"
        )
    root.mkdir(parents=True, exist_ok=True)
    try:
        password, new_password = DevMailbox.load(root).password, False
    except DevMailboxError:
        password, new_password = secrets.token_urlsafe(18), True
    mailbox = DevMailbox(host=HOST, port=port, username=DEV_ADDRESS, password=password)
    server = DovecotServer(binary, root, instance_name="intake-dev-mailbox", imap_port=port, written_by=__name__)
    if (closed := server.closed_ancestor()) is not None:
        raise DevMailboxError(
            f"the development mailbox's Dovecot (users dovecot and nobody) cannot reach {root}: {closed} is closed "
            f"to others; run from a checkout outside it, `chmod o+x {closed}`, or set INTAKE_DEV_MAILBOX=off"
        )
    server.write_files()
    server.add_user(mailbox.username, mailbox.password)
    mailbox.save(root)
    try:
        server.start()
    except RuntimeError as error:
        in_use = "in use" in str(error)
        hint = f"port {port} is taken; set INTAKE_DEV_MAILBOX_PORT to a free one" if in_use else str(error)
        raise DevMailboxError(f"the development mailbox did not start: {hint} (log: {server.log_path})") from None
    return server, mailbox, new_password


def call_api(base_url: str, token: str, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
    request = urllib.request.Request(  # noqa: S310 (our own API on a URL built from INTAKE_API_HOST/PORT)
        base_url + path,
        method=method,
        data=None if body is None else json.dumps(body).encode(),
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=API_TIMEOUT_SECONDS) as response:  # noqa: S310
            return json.loads(response.read() or b"null")
    except urllib.error.HTTPError as error:
        detail = error.read().decode("utf-8", "replace")[:500]
        raise DevMailboxError(f"{method} {path} answered {error.code}: {detail}") from None
    except (urllib.error.URLError, TimeoutError) as error:
        raise DevMailboxError(f"{method} {path} failed: {error}") from None


def _find_inbox(base_url: str, token: str) -> dict[str, Any] | None:
    cursor: str | None = None
    while True:
        query = urllib.parse.urlencode({"limit": 100, **({"cursor": cursor} if cursor else {})})
        page = call_api(base_url, token, "GET", f"/api/v1/inboxes?{query}")
        for inbox in page["items"]:
            if inbox["email"] == DEV_ADDRESS and inbox["hostname"] == HOST:
                return dict(inbox)
        cursor = page.get("next_cursor")
        if not cursor:
            return None


def ensure_inbox(base_url: str, token: str, mailbox: DevMailbox, *, new_password: bool) -> tuple[int, str]:
    """The development mailbox's inbox in config-api: created on the first run, else brought up to date.

    Returns its id and what was done ("created", "updated" or "already there"). An existing one is
    patched only when its port, login or password changed (a PATCH restarts the fetcher's loop for it);
    the password always goes with it, as the API asks when the server changes.
    """
    connection = {
        "username": mailbox.username,
        "password": mailbox.password,
        "hostname": mailbox.host,
        "port": mailbox.port,
        "encryption": "none",
    }
    inbox = _find_inbox(base_url, token)
    if inbox is None:
        body = {"provider": "custom", "email": mailbox.email, "auth": "password", **connection}
        # New issues get the issue type a fresh install has (`Support`), when it is still there.
        types = call_api(base_url, token, "GET", "/api/v1/issue-types?limit=100")["items"]
        support = [kind["id"] for kind in types if kind["name"] == "Support"]
        created = call_api(
            base_url, token, "POST", "/api/v1/inboxes", body | {"issue_type_id": support[0]} if support else body
        )
        return int(created["id"]), "created"
    unchanged = inbox["port"] == mailbox.port and inbox.get("username") == mailbox.username
    if unchanged and inbox.get("password_set") and not new_password:
        return int(inbox["id"]), "already there"
    call_api(base_url, token, "PATCH", f"/api/v1/inboxes/{inbox['id']}", connection)
    return int(inbox["id"]), "updated"
