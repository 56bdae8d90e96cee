"""A private Debian Dovecot on loopback: its configuration, who it runs as, starting and stopping it.

One place for `make run`'s development mailbox (deploy/local/dev_mailbox.py) and the tests' Dovecot
fixture (tests/support/dovecot.py). Nothing from /etc/dovecot is read; everything lives under `root`.
It knows nothing of users beyond the passwd-file folder (`users/<login>`, one file per user).
"""

from __future__ import annotations

import grp
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

HOST = "127.0.0.1"
START_TIMEOUT_SECONDS = 20.0
# Dovecot's sockets live under base_dir; a unix socket path may be at most 107 bytes, and the longest
# name Dovecot puts there is about 30, so a deeper base_dir moves to a short temporary folder.
_MAX_BASE_DIR_LENGTH = 70


def find_dovecot() -> str | None:
    """The dovecot binary: Debian's /usr/sbin/dovecot, else one on PATH."""
    if os.access("/usr/sbin/dovecot", os.X_OK):
        return "/usr/sbin/dovecot"
    return shutil.which("dovecot")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


def greets(host: str, port: int) -> bool:
    """Whether an IMAP server answers on host:port with its `* OK` greeting."""
    try:
        with socket.create_connection((host, port), timeout=2) as sock:
            sock.settimeout(2)
            return sock.recv(1024).startswith(b"* OK")
    except OSError:
        return False


@dataclass(frozen=True)
class Identity:
    """Who runs what: Dovecot refuses to run mail processes as root (first_valid_uid)."""

    internal_user: str
    internal_group: str
    login_user: str
    mail_uid: int
    mail_gid: int
    first_valid_uid: int
    first_valid_gid: int

    @classmethod
    def current(cls) -> Identity:
        if os.geteuid() == 0:
            mail_user = pwd.getpwnam("nobody")
            mail_group = grp.getgrgid(mail_user.pw_gid)
            return cls(
                internal_user="dovecot",
                internal_group="dovecot",
                login_user="dovenull",
                mail_uid=mail_user.pw_uid,
                mail_gid=mail_group.gr_gid,
                first_valid_uid=min(mail_user.pw_uid, 500),
                first_valid_gid=min(mail_group.gr_gid, 1),
            )
        me = pwd.getpwuid(os.geteuid())
        group = grp.getgrgid(os.getegid())
        return cls(
            internal_user=me.pw_name,
            internal_group=group.gr_name,
            login_user=me.pw_name,
            mail_uid=me.pw_uid,
            mail_gid=group.gr_gid,
            first_valid_uid=max(min(me.pw_uid, 500), 1),
            first_valid_gid=max(min(group.gr_gid, 1), 0),
        )


@dataclass(frozen=True)
class Tls:
    """PEM text of the server's certificate and its key."""

    cert_pem: str
    key_pem: str


class DovecotServer:
    """One Dovecot process with its own folder `root`: config, users, mail, logs.

    `imap_port` 0 picks free loopback ports at each start (retried when one is taken meanwhile);
    another value is used as given. `tls` None: `ssl = no` (plain IMAP only, no STARTTLS, no imaps);
    else STARTTLS on the IMAP port and implicit TLS on `imaps_port`. `oauth2_introspection_url` adds an
    oauth2 passdb for XOAUTH2/OAUTHBEARER validating tokens there. `extra_config`: more dovecot.conf lines.
    """

    def __init__(
        self,
        binary: str,
        root: Path,
        *,
        instance_name: str,
        imap_port: int = 0,
        tls: Tls | None = None,
        oauth2_introspection_url: str | None = None,
        extra_config: str = "",
        written_by: str = "deploy/local/dovecot.py",
    ) -> None:
        self.binary = binary
        self.root = root
        self.instance_name = instance_name
        self.tls = tls
        self.oauth2_introspection_url = oauth2_introspection_url
        self.extra_config = extra_config
        self.written_by = written_by
        self.host = HOST
        self.fixed_port = imap_port
        self.imap_port = imap_port
        self.imaps_port = 0
        self.log_path = root / "dovecot.log"
        self.output_path = root / "dovecot.out"
        self.config_path = root / "dovecot.conf"
        self.passwd_dir = root / "users"
        self.mail_root = root / "mail"
        self.base_dir = root / "run"
        self._short_base_dir: str | None = None
        self._process: subprocess.Popen[bytes] | None = None

    def config(self) -> str:
        ident = Identity.current()
        root = self.root
        if self.tls is not None:
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
        return f"""# Written by {self.written_by}; nothing from /etc/dovecot is used.
protocols = imap
listen = {HOST}
base_dir = {self.base_dir}
state_dir = {root}/state
log_path = {self.log_path}
info_log_path = {self.log_path}
debug_log_path = {self.log_path}
instance_name = {self.instance_name}
default_internal_user = {ident.internal_user}
default_internal_group = {ident.internal_group}
default_login_user = {ident.login_user}
first_valid_uid = {ident.first_valid_uid}
first_valid_gid = {ident.first_valid_gid}

{tls}

# Plain IMAP login is allowed (loopback only) so `encryption=none` works and can be tested.
disable_plaintext_auth = no
auth_mechanisms = {mechanisms}
# Every login attempt is logged (tests prove from the log that none was made).
auth_verbose = yes
# Clients share one IP, so one wrong password must not slow the others' logins: no delay after a
# failure, and no auth penalty (it is off when auth cannot reach anvil's socket).
auth_failure_delay = 0
# Each imap process shows its user and current command in its title ("[user 127.0.0.1 IDLE]"): tests
# wait for a client to be in IDLE by it.
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
  args = uid={ident.mail_uid} gid={ident.mail_gid} home={self.mail_root}/%u
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

    def closed_ancestor(self) -> Path | None:
        """A folder above `root` that Dovecot's own users cannot pass through, when running as root.

        As root, Dovecot reads the users files as `dovecot` and the mail as `nobody`; a folder such as
        /root (mode 0700) on the way stops both, and every login fails as a "temporary failure".
        """
        if os.geteuid() != 0:
            return None
        for folder in reversed(self.root.resolve().parents):
            if not folder.stat().st_mode & 0o001:
                return folder
        return None

    def add_user(self, username: str, password: str) -> None:
        """Write `username`'s own passwd-file (`users/<name>`), replacing any earlier one at once.

        One file per user: Dovecot re-reads a changed passwd-file at most once a second, so appending
        to one shared file would make a user added right after another fail to log in for up to a
        second. A new file is read at its first lookup.
        """
        temporary = self.passwd_dir / f".{username}.tmp"
        temporary.write_text(f"{username}:{{PLAIN}}{password}\n", encoding="utf-8")
        temporary.chmod(0o644)
        os.replace(temporary, self.passwd_dir / username)

    def write_files(self) -> None:
        self.root.chmod(0o755)
        if self.tls is not None:
            (self.root / "server.crt").write_text(self.tls.cert_pem, encoding="ascii")
            key_path = self.root / "server.key"
            key_path.write_text(self.tls.key_pem, encoding="ascii")
            key_path.chmod(0o600)
        if len(str(self.root / "run")) > _MAX_BASE_DIR_LENGTH:
            if self._short_base_dir is None:
                self._short_base_dir = tempfile.mkdtemp(prefix="intake-dovecot-")
            self.base_dir = Path(self._short_base_dir)
        self.mail_root.mkdir(exist_ok=True)
        if os.geteuid() == 0:
            ident = Identity.current()
            os.chown(self.mail_root, ident.mail_uid, ident.mail_gid)
        self.passwd_dir.mkdir(exist_ok=True)
        self.passwd_dir.chmod(0o755)
        self.config_path.write_text(self.config(), encoding="utf-8")
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

    def log_text(self) -> str:
        try:
            return self.log_path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def start(self) -> None:
        """Start Dovecot in the foreground (`-F`, a child of this process) and wait for its greeting.

        Raises RuntimeError with Dovecot's own output and log when it does not come up.
        """
        last_error = ""
        for _ in range(3 if self.fixed_port == 0 else 1):
            if self.fixed_port == 0:  # a port picked free may be taken before Dovecot binds it; try new ones
                self.imap_port = free_port()
            if self.tls is not None:
                self.imaps_port = free_port()
            self.write_files()
            with self.output_path.open("ab") as sink:
                # The binary is Debian's dovecot (find_dovecot), the config ours.
                process = subprocess.Popen(  # noqa: S603
                    [self.binary, "-F", "-c", str(self.config_path)], stdout=sink, stderr=subprocess.STDOUT
                )
            deadline = time.monotonic() + START_TIMEOUT_SECONDS
            while time.monotonic() < deadline and process.poll() is None:
                if greets(self.host, self.imap_port):
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
        """SIGTERM, then wait (a kill after 15 s); removes a temporary base_dir."""
        process, self._process = self._process, None
        if process is not None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if self._short_base_dir is not None:
            shutil.rmtree(self._short_base_dir, ignore_errors=True)
            self._short_base_dir = None
