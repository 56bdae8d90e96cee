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
mailbox with the stdlib `imaplib`, independent of the code under test.
"""

from __future__ import annotations

import contextlib
import datetime
import grp
import http.server
import imaplib
import ipaddress
import json
import os
import pwd
import re
import secrets
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import threading
import time
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

HOST = "127.0.0.1"
START_TIMEOUT_SECONDS = 20.0
_APPENDUID = re.compile(rb"\[APPENDUID (\d+) (\d+)\]", re.I)
_FLAGS = re.compile(rb"FLAGS \(([^)]*)\)", re.I)
_UIDVALIDITY = re.compile(rb"UIDVALIDITY (\d+)", re.I)


def find_dovecot() -> str | None:
    """The dovecot binary: Debian's /usr/sbin/dovecot, else one on PATH."""
    if os.access("/usr/sbin/dovecot", os.X_OK):
        return "/usr/sbin/dovecot"
    return shutil.which("dovecot")


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


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


class Dovecot:
    """A running Dovecot: where it listens, the CA that signed its certificate, and its users.

    `starttls=False`: `ssl = no` (no STARTTLS, no implicit TLS port). `oauth2_introspection_url`:
    add an oauth2 passdb for XOAUTH2/OAUTHBEARER validating tokens there. `extra_config`: more
    lines for dovecot.conf (e.g. process limits for benchmarks).
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
        self.binary = binary
        self.root = root
        self.starttls = starttls
        self.oauth2_introspection_url = oauth2_introspection_url
        self.extra_config = extra_config
        self.oauth2: IntrospectionServer | None = None
        self.host = HOST
        self.imap_port = 0
        self.imaps_port = 0
        self.log_path = root / "dovecot.log"
        self.instance_name = f"intake-test-{root.name}"
        self.output_path = root / "dovecot.out"
        self.config_path = root / "dovecot.conf"
        self.passwd_dir = root / "users"
        self.mail_root = root / "mail"
        self.certificates = make_certificates()
        self.ca_pem = self.certificates.ca_pem
        self._process: subprocess.Popen[bytes] | None = None

    # -- users ---------------------------------------------------------------------------------
    def new_user(self, prefix: str = "user") -> Mailbox:
        """Add a fresh user with a random password and return its mailbox.

        Each user has its own passwd-file (`users/<name>`): Dovecot re-reads a changed passwd-file at
        most once a second, so appending to one shared file would make a user added right after
        another login fail for up to a second. A new file is read at its first lookup.
        """
        username = f"{prefix}-{secrets.token_hex(6)}"
        password = secrets.token_urlsafe(16)
        temporary = self.passwd_dir / f".{username}.tmp"
        temporary.write_text(f"{username}:{{PLAIN}}{password}\n", encoding="utf-8")
        temporary.chmod(0o644)
        os.replace(temporary, self.passwd_dir / username)
        return Mailbox(self.host, self.imap_port, username, password)

    def ssl_context(self) -> ssl.SSLContext:
        """A client context that trusts only the fixture's CA (hostname checks on)."""
        return ssl.create_default_context(cadata=self.ca_pem)

    # -- process -------------------------------------------------------------------------------
    def _identity(self) -> dict[str, str | int]:
        """Who runs what: Dovecot refuses to run mail processes as root (first_valid_uid)."""
        if os.geteuid() == 0:
            mail_user = pwd.getpwnam("nobody")
            mail_group = grp.getgrgid(mail_user.pw_gid)
            return {
                "internal_user": "dovecot",
                "internal_group": "dovecot",
                "login_user": "dovenull",
                "mail_uid": mail_user.pw_uid,
                "mail_gid": mail_group.gr_gid,
                "first_valid_uid": min(mail_user.pw_uid, 500),
                "first_valid_gid": min(mail_group.gr_gid, 1),
            }
        me = pwd.getpwuid(os.geteuid())
        group = grp.getgrgid(os.getegid())
        return {
            "internal_user": me.pw_name,
            "internal_group": group.gr_name,
            "login_user": me.pw_name,
            "mail_uid": me.pw_uid,
            "mail_gid": group.gr_gid,
            "first_valid_uid": max(min(me.pw_uid, 500), 1),
            "first_valid_gid": max(min(group.gr_gid, 1), 0),
        }

    def _config(self) -> str:
        ident = self._identity()
        root = self.root
        if self.starttls:
            tls = f"ssl = yes\nssl_cert = <{root}/server.crt\nssl_key = <{root}/server.key"
            imaps = f"""  inet_listener imaps {{
    address = {HOST}
    port = {self.imaps_port}
    ssl = yes
  }}"""
        else:
            tls, imaps = "ssl = no", ""
        mechanisms = "plain login"
        oauth2_passdb = ""
        if self.oauth2_introspection_url is not None:
            mechanisms += " xoauth2 oauthbearer"
            oauth2_passdb = f"""passdb {{
  driver = oauth2
  mechanisms = xoauth2 oauthbearer
  args = {root}/dovecot-oauth2.conf.ext
}}"""
        return f"""# Written by tests/support/dovecot.py; nothing from /etc/dovecot is used.
protocols = imap
listen = {HOST}
base_dir = {root}/run
state_dir = {root}/state
log_path = {self.log_path}
info_log_path = {self.log_path}
debug_log_path = {self.log_path}
instance_name = {self.instance_name}
default_internal_user = {ident["internal_user"]}
default_internal_group = {ident["internal_group"]}
default_login_user = {ident["login_user"]}
first_valid_uid = {ident["first_valid_uid"]}
first_valid_gid = {ident["first_valid_gid"]}

{tls}

# Plain IMAP login is allowed so `encryption=none` can be tested.
disable_plaintext_auth = no
auth_mechanisms = {mechanisms}
# Every login attempt is logged (tests prove from the log that none was made).
auth_verbose = yes
# Tests share one client IP, so one test's wrong password must not slow the others' logins: no
# delay after a failure, and no auth penalty (it is off when auth cannot reach anvil's socket).
auth_failure_delay = 0
# Each imap process shows its user and current command in its title ("[user 127.0.0.1 IDLE]"): tests
# wait for a client to be in IDLE by it (`Dovecot.idling`).
verbose_proctitle = yes

mail_location = maildir:{self.mail_root}/%u/Maildir
mailbox_list_index = no

{oauth2_passdb}
passdb {{
  driver = passwd-file
  mechanisms = plain login
  args = scheme=PLAIN username_format=%u {self.passwd_dir}/%u
}}
userdb {{
  driver = static
  args = uid={ident["mail_uid"]} gid={ident["mail_gid"]} home={self.mail_root}/%u
}}

service imap-login {{
  chroot =
  inet_listener imap {{
    address = {HOST}
    port = {self.imap_port}
  }}
{imaps}
}}
service anvil {{
  chroot =
  unix_listener anvil-auth-penalty {{
    mode = 0
  }}
}}
service imap-urlauth-login {{
  chroot =
}}
{self.extra_config}
"""

    def _write_files(self) -> None:
        self.root.chmod(0o755)
        (self.root / "server.crt").write_text(self.certificates.server_cert_pem, encoding="ascii")
        key_path = self.root / "server.key"
        key_path.write_text(self.certificates.server_key_pem, encoding="ascii")
        key_path.chmod(0o600)
        (self.root / "ca.pem").write_text(self.ca_pem, encoding="ascii")
        self.mail_root.mkdir(exist_ok=True)
        ident = self._identity()
        if os.geteuid() == 0:
            os.chown(self.mail_root, int(ident["mail_uid"]), int(ident["mail_gid"]))
        self.passwd_dir.mkdir(exist_ok=True)
        self.passwd_dir.chmod(0o755)
        self.config_path.write_text(self._config(), encoding="utf-8")
        if self.oauth2_introspection_url is not None:
            (self.root / "dovecot-oauth2.conf.ext").write_text(
                f"""introspection_mode = post
introspection_url = {self.oauth2_introspection_url}
force_introspection = yes
username_attribute = username
active_attribute = active
active_value = true
""",
                encoding="utf-8",
            )

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log written)"

    def _greeting(self, port: int) -> bool:
        try:
            with socket.create_connection((self.host, port), timeout=2) as sock:
                sock.settimeout(2)
                return sock.recv(1024).startswith(b"* OK")
        except OSError:
            return False

    def start(self) -> None:
        last_error = ""
        for _ in range(3):  # a port picked free may be taken before Dovecot binds it; try new ones
            self.imap_port, self.imaps_port = _free_port(), _free_port()
            self._write_files()
            with self.output_path.open("ab") as sink:
                process = subprocess.Popen(
                    [self.binary, "-F", "-c", str(self.config_path)], stdout=sink, stderr=subprocess.STDOUT
                )
            deadline = time.monotonic() + START_TIMEOUT_SECONDS
            while time.monotonic() < deadline and process.poll() is None:
                if self._greeting(self.imap_port):
                    self._process = process
                    return
                time.sleep(0.05)
            if process.poll() is None:
                process.terminate()
            process.wait(timeout=10)
            output = self.output_path.read_text(encoding="utf-8", errors="replace")
            last_error = f"{output}\n{self.log_tail()}"
            if "in use" not in last_error:
                break
        raise RuntimeError(f"dovecot did not start:\n{last_error}")

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

    def log_text(self) -> str:
        try:
            return self.log_path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


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
