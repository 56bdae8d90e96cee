"""A real Dovecot IMAP server for the tests: own config, own certificates, loopback only, free ports.

`dovecot` (session fixture) starts Debian's dovecot-imapd with a config written to a temp dir (nothing
in /etc/dovecot is read), a test CA and a server certificate for `localhost`/127.0.0.1, plain IMAP
(STARTTLS offered) and implicit TLS. Each test takes its own user with `dovecot.new_user()`; the
`Mailbox` helpers drive that user's mailbox with the stdlib `imaplib`, independent of the code under test.
"""

from __future__ import annotations

import datetime
import grp
import imaplib
import ipaddress
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
import time
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


class Dovecot:
    """A running Dovecot: where it listens, the CA that signed its certificate, and its users."""

    def __init__(self, binary: str, root: Path) -> None:
        self.binary = binary
        self.root = root
        self.host = HOST
        self.imap_port = 0
        self.imaps_port = 0
        self.log_path = root / "dovecot.log"
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
        return f"""# Written by tests/support/dovecot.py; nothing from /etc/dovecot is used.
protocols = imap
listen = {HOST}
base_dir = {root}/run
state_dir = {root}/state
log_path = {self.log_path}
info_log_path = {self.log_path}
debug_log_path = {self.log_path}
instance_name = intake-test-{root.name}
default_internal_user = {ident["internal_user"]}
default_internal_group = {ident["internal_group"]}
default_login_user = {ident["login_user"]}
first_valid_uid = {ident["first_valid_uid"]}
first_valid_gid = {ident["first_valid_gid"]}

ssl = yes
ssl_cert = <{root}/server.crt
ssl_key = <{root}/server.key

# Plain IMAP login is allowed so `encryption=none` can be tested; XOAUTH2 is added with its passdb.
disable_plaintext_auth = no
auth_mechanisms = plain login
# Tests share one client IP, so one test's wrong password must not slow the others' logins: no
# delay after a failure, and no auth penalty (it is off when auth cannot reach anvil's socket).
auth_failure_delay = 0

mail_location = maildir:{self.mail_root}/%u/Maildir
mailbox_list_index = no

passdb {{
  driver = passwd-file
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
  inet_listener imaps {{
    address = {HOST}
    port = {self.imaps_port}
    ssl = yes
  }}
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


@pytest.fixture(scope="session")
def dovecot() -> Iterator[Dovecot]:
    """A running Dovecot for the whole session; take a user per test with `dovecot.new_user()`."""
    binary = find_dovecot()
    if binary is None:
        pytest.skip("dovecot-imapd is not installed (apt-get install dovecot-imapd)")
    root = Path(tempfile.mkdtemp(prefix="intake-dovecot-"))
    server = Dovecot(binary, root)
    try:
        server.start()
        yield server
    finally:
        server.stop()
        shutil.rmtree(root, ignore_errors=True)
