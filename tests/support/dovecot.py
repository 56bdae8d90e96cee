"""A real Dovecot IMAP server for the tests: own config, own certificates, loopback only, free ports.

Fixtures (all session-scoped; each test takes its own user with `server.new_user()`):

- `dovecot`: Debian's dovecot-imapd with a config written to a temp dir (nothing in /etc/dovecot is
  read), a test CA and a server certificate for `localhost`/127.0.0.1, plain IMAP with STARTTLS
  offered (`imap_port`) and implicit TLS (`imaps_port`), IDLE, UIDPLUS, password logins.
- `dovecot_without_starttls`: the same with `ssl = no`: plain IMAP only, STARTTLS not offered.
- `oauth2_dovecot`: the same as `dovecot` plus an `oauth2` passdb for SASL XOAUTH2/OAUTHBEARER.
  Dovecot validates each token by POSTing `token=<token>` to an introspection endpoint that the
  fixture serves on loopback (`server.oauth2`, an `IntrospectionServer`): a token is valid once
  `server.oauth2.grant(username)` returned it (or `grant(username, token)` registered one you
  chose, e.g. the access token your fake identity provider hands out), until `revoke(token)`.
  Password users (`new_user()`) log in as before. `server.oauth2.requests` lists the tokens
  Dovecot asked about. To validate against your own endpoint instead, start one yourself:
  `with running_dovecot(oauth2_introspection_url="http://127.0.0.1:PORT/path") as server: ...`
  (it must answer RFC 7662 style JSON `{"active": true, "username": "<login name>"}`).

`running_dovecot(**options)` starts a private instance with any `Dovecot` option (`starttls`,
`oauth2_introspection_url`, `extra_config`). `Dovecot.kick(username)` cuts that user's IMAP
connections (doveadm kick), as a network failure would. The `Mailbox` helpers drive a user's
mailbox with the stdlib `imaplib`, independent of the code under test. Running the process
(config, identity, start, stop) is deploy/local/dovecot.py, shared with `make run`'s dev mailbox.
"""

from __future__ import annotations

import contextlib
import datetime
import http.server
import imaplib
import ipaddress
import json
import re
import secrets
import shutil
import ssl
import subprocess
import tempfile
import threading
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from deploy.local.dovecot import HOST, DovecotServer, Tls, find_dovecot
from deploy.local.dovecot import free_port as _free_port  # noqa: F401 (tests take it from here)

_APPENDUID = re.compile(rb"\[APPENDUID (\d+) (\d+)\]", re.I)
_FLAGS = re.compile(rb"FLAGS \(([^)]*)\)", re.I)
_UIDVALIDITY = re.compile(rb"UIDVALIDITY (\d+)", re.I)


def _quote(mailbox: str) -> str:
    """An IMAP quoted string for a mailbox name (imaplib sends names as given)."""
    return '"' + mailbox.replace("\\", "\\\\").replace('"', '\\"') + '"'


@dataclass(frozen=True)
class TestCertificates:
    """PEM text of a throwaway CA and of a server certificate for localhost/127.0.0.1 signed by it."""

    ca_pem: str
    server_cert_pem: str
    server_key_pem: str


def make_certificates() -> TestCertificates:
    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Intake test CA")])
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=2))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                key_cert_sign=True,
                crl_sign=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    server_key = ec.generate_private_key(ec.SECP256R1())
    server_cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
        .issuer_name(ca_name)
        .public_key(server_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=2))
        .add_extension(
            x509.SubjectAlternativeName([x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address(HOST))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    return TestCertificates(
        ca_pem=ca_cert.public_bytes(serialization.Encoding.PEM).decode("ascii"),
        server_cert_pem=server_cert.public_bytes(serialization.Encoding.PEM).decode("ascii"),
        server_key_pem=server_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ).decode("ascii"),
    )


@dataclass(frozen=True)
class Mailbox:
    """One test user's mailbox on the fixture server, driven over plain IMAP with stdlib imaplib."""

    host: str
    port: int
    username: str
    password: str

    def _connect(self) -> imaplib.IMAP4:
        conn = imaplib.IMAP4(self.host, self.port, timeout=30)
        conn.login(self.username, self.password)
        return conn

    @staticmethod
    def _check(result: tuple[str, list[bytes | None]] | tuple[str, list[bytes]], what: str) -> list[bytes | None]:
        typ, data = result
        if typ != "OK":
            raise AssertionError(f"IMAP {what} failed: {typ} {data!r}")
        return list(data)

    def append(self, raw: bytes, folder: str = "INBOX", flags: str = "") -> int:
        """APPEND `raw` to `folder` with `flags` (e.g. "\\Seen"); return its UID from APPENDUID (RFC 4315)."""
        conn = self._connect()
        try:
            data = self._check(conn.append(_quote(folder), f"({flags})" if flags else None, None, raw), "APPEND")
        finally:
            conn.logout()
        match = _APPENDUID.search(b" ".join(d for d in data if d))
        if match is None:
            raise AssertionError(f"APPEND answered without APPENDUID: {data!r}")
        return int(match.group(2))

    def append_many(self, raws: list[bytes], folder: str = "INBOX") -> list[int]:
        """APPEND each of `raws` over one connection; return their UIDs."""
        conn = self._connect()
        uids: list[int] = []
        try:
            for raw in raws:
                data = self._check(conn.append(_quote(folder), None, None, raw), "APPEND")
                match = _APPENDUID.search(b" ".join(d for d in data if d))
                if match is None:
                    raise AssertionError(f"APPEND answered without APPENDUID: {data!r}")
                uids.append(int(match.group(2)))
        finally:
            conn.logout()
        return uids

    def move_all(self, source: str, target: str = "INBOX") -> None:
        """Move every message of `source` to `target` with one UID MOVE (RFC 6851): they arrive in
        `target` at once, as a burst of delivered mail would."""
        conn = self._connect()
        try:
            self._check(conn.select(_quote(source)), "SELECT")
            self._check(conn.uid("MOVE", "1:*", _quote(target)), "UID MOVE")
        finally:
            conn.logout()

    def flags(self, uid: int, folder: str = "INBOX") -> set[str] | None:
        """The flags of message `uid` (without the per-session \\Recent), or None when no message has that UID."""
        conn = self._connect()
        try:
            self._check(conn.select(_quote(folder), readonly=True), "SELECT")
            data = self._check(conn.uid("FETCH", str(uid), "(FLAGS)"), "UID FETCH")
        finally:
            conn.logout()
        for item in data:
            line = item[0] if isinstance(item, tuple) else item
            if isinstance(line, bytes) and (match := _FLAGS.search(line)):
                return {flag.decode() for flag in match.group(1).split()} - {"\\Recent"}
        return None

    def uids(self, folder: str = "INBOX") -> list[int]:
        conn = self._connect()
        try:
            self._check(conn.select(_quote(folder), readonly=True), "SELECT")
            data = self._check(conn.uid("SEARCH", "ALL"), "UID SEARCH")
        finally:
            conn.logout()
        return [int(uid) for uid in (data[0] or b"").split()]

    def uidvalidity(self, folder: str = "INBOX") -> int:
        conn = self._connect()
        try:
            data = self._check(conn.status(_quote(folder), "(UIDVALIDITY)"), "STATUS")
        finally:
            conn.logout()
        match = _UIDVALIDITY.search(data[0] or b"")
        if match is None:
            raise AssertionError(f"STATUS answered without UIDVALIDITY: {data!r}")
        return int(match.group(1))

    def create_folder(self, name: str) -> None:
        conn = self._connect()
        try:
            self._check(conn.create(_quote(name)), "CREATE")
        finally:
            conn.logout()

    def delete_folder(self, name: str) -> None:
        """Delete a folder and its messages; created again, it gets a new UIDVALIDITY."""
        conn = self._connect()
        try:
            self._check(conn.delete(_quote(name)), "DELETE")
        finally:
            conn.logout()


class IntrospectionServer:
    """An OAuth2 token introspection endpoint (RFC 7662) on loopback for Dovecot's oauth2 passdb.

    Dovecot POSTs `token=<token>`; a granted token answers `{"active": true, "username": ...}`,
    any other `{"active": false}`, which Dovecot turns into a failed XOAUTH2 login.
    """

    PATH = "/introspect"

    def __init__(self) -> None:
        self._tokens: dict[str, str] = {}
        self._lock = threading.Lock()
        self.requests: list[str] = []
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                form = urllib.parse.parse_qs(self.rfile.read(length).decode("utf-8", "replace"))
                token = (form.get("token") or [""])[0]
                body = json.dumps(server.introspect(token)).encode()
                self.send_response(200 if self.path == IntrospectionServer.PATH else 404)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                pass

        self._http = http.server.ThreadingHTTPServer((HOST, 0), Handler)
        self._http.daemon_threads = True
        self._thread = threading.Thread(target=self._http.serve_forever, name="introspection", daemon=True)

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self._http.server_address[1]}{self.PATH}"

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._http.shutdown()
        self._http.server_close()

    def grant(self, username: str, token: str | None = None) -> str:
        """Make `token` (a fresh random one by default) valid for `username`; return it."""
        value = token or secrets.token_urlsafe(24)
        with self._lock:
            self._tokens[value] = username
        return value

    def revoke(self, token: str) -> None:
        with self._lock:
            self._tokens.pop(token, None)

    def introspect(self, token: str) -> dict[str, object]:
        with self._lock:
            self.requests.append(token)
            username = self._tokens.get(token)
        return {"active": True, "username": username} if username else {"active": False}


class Dovecot(DovecotServer):
    """A running test Dovecot: where it listens, the CA that signed its certificate, and its users.

    `starttls=False`: `ssl = no` (no STARTTLS, no implicit TLS port). `oauth2_introspection_url`:
    add an oauth2 passdb for XOAUTH2/OAUTHBEARER validating tokens there. `extra_config`: more
    lines for dovecot.conf (e.g. process limits for benchmarks). Free ports are picked at start.
    """

    def __init__(
        self,
        binary: str,
        root: Path,
        *,
        starttls: bool = True,
        oauth2_introspection_url: str | None = None,
        extra_config: str = "",
    ) -> None:
        self.certificates = make_certificates()
        self.ca_pem = self.certificates.ca_pem
        super().__init__(
            binary,
            root,
            instance_name=f"intake-test-{root.name}",
            tls=Tls(self.certificates.server_cert_pem, self.certificates.server_key_pem) if starttls else None,
            oauth2_introspection_url=oauth2_introspection_url,
            extra_config=extra_config,
            written_by="tests/support/dovecot.py",
        )
        self.starttls = starttls
        self.oauth2: IntrospectionServer | None = None

    # -- users ---------------------------------------------------------------------------------
    def new_user(self, prefix: str = "user") -> Mailbox:
        """Add a fresh user with a random password (a passwd-file of its own) and return its mailbox."""
        username = f"{prefix}-{secrets.token_hex(6)}"
        password = secrets.token_urlsafe(16)
        self.add_user(username, password)
        return Mailbox(self.host, self.imap_port, username, password)

    def ssl_context(self) -> ssl.SSLContext:
        """A client context that trusts only the fixture's CA (hostname checks on)."""
        return ssl.create_default_context(cadata=self.ca_pem)

    # -- process -------------------------------------------------------------------------------
    def write_files(self) -> None:
        super().write_files()
        (self.root / "ca.pem").write_text(self.ca_pem, encoding="ascii")

    def kick(self, username: str) -> None:
        """Cut every IMAP connection of `username` (doveadm kick), as a network failure would."""
        subprocess.run(
            [shutil.which("doveadm") or "/usr/bin/doveadm", "-c", str(self.config_path), "kick", username],
            check=True,
            capture_output=True,
            timeout=30,
        )

    def idling(self, username: str) -> bool:
        """Whether an IMAP session of `username` is in IDLE now, read from its imap process's title."""
        title = f"{self.instance_name}/imap [{username} "
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            except OSError:  # the process ended meanwhile
                continue
            if title in cmdline and " IDLE]" in cmdline:  # Dovecot puts "dovecot-" before the instance name
                return True
        return False


@contextlib.contextmanager
def running_dovecot(
    *, starttls: bool = True, oauth2_introspection_url: str | None = None, extra_config: str = ""
) -> Iterator[Dovecot]:
    """A private Dovecot with the given options, stopped and removed afterwards (skips without dovecot)."""
    binary = find_dovecot()
    if binary is None:
        pytest.skip("dovecot-imapd is not installed (apt-get install dovecot-imapd)")
    root = Path(tempfile.mkdtemp(prefix="intake-dovecot-"))
    server = Dovecot(
        binary, root, starttls=starttls, oauth2_introspection_url=oauth2_introspection_url, extra_config=extra_config
    )
    try:
        server.start()
        yield server
    finally:
        server.stop()
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def dovecot() -> Iterator[Dovecot]:
    """A running Dovecot for the whole session; take a user per test with `dovecot.new_user()`."""
    with running_dovecot() as server:
        yield server


@pytest.fixture(scope="session")
def dovecot_without_starttls() -> Iterator[Dovecot]:
    """Plain IMAP only: the server offers no STARTTLS (and has no TLS port)."""
    with running_dovecot(starttls=False) as server:
        yield server


@pytest.fixture(scope="session")
def oauth2_dovecot() -> Iterator[Dovecot]:
    """Dovecot with XOAUTH2 validated by `server.oauth2` (grant tokens with `server.oauth2.grant(user)`)."""
    introspection = IntrospectionServer()
    introspection.start()
    try:
        with running_dovecot(oauth2_introspection_url=introspection.url) as server:
            server.oauth2 = introspection
            yield server
    finally:
        introspection.stop()
