"""The console's session cookie and CSRF token as values: made, signed and checked without any I/O.

Pure. A cookie is `<session id>.<HMAC-SHA256 of it>`; the key is derived from the first key of
`INTAKE_SECRET_KEY`, so a forged or altered cookie is refused before any database look-up. The CSRF
token is an HMAC of the session id: one per session, never stored, checked in constant time.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass

SESSION_COOKIE = "intake_session"
SIGN_IN_COOKIE = "intake_sign_in"  # guards the sign-in form itself (there is no session yet)
FLASH_COOKIE = "intake_flash"
SESSION_ID_BYTES = 32
_PURPOSE = b"intake console session v1"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def console_key(secret_key: str) -> bytes:
    """The console's signing key, derived from the first (newest) key of `INTAKE_SECRET_KEY`.

    Derived, not reused: the Fernet key that encrypts inbox secrets never signs anything itself.
    Rotating `INTAKE_SECRET_KEY` signs every console user out, which is what a rotation should do.
    """
    first = secret_key.split(",")[0].strip()
    return hmac.new(first.encode("ascii"), _PURPOSE, hashlib.sha256).digest()


def _mac(key: bytes, purpose: str, value: str) -> bytes:
    return hmac.new(key, f"{purpose}:{value}".encode(), hashlib.sha256).digest()


@dataclass(frozen=True)
class NewSession:
    cookie: str  # what the browser keeps
    session_sha256: bytes  # what the database keeps


def new_session(key: bytes) -> NewSession:
    session_id = secrets.token_urlsafe(SESSION_ID_BYTES)
    return NewSession(f"{session_id}.{_b64(_mac(key, 'session', session_id))}", session_digest(session_id))


def session_digest(session_id: str) -> bytes:
    return hashlib.sha256(session_id.encode("ascii")).digest()


def session_id_from(key: bytes, cookie: str | None) -> str | None:
    """The session id a cookie carries if its signature is right, else None.

    >>> key = console_key("k")
    >>> session = new_session(key)
    >>> session_id_from(key, session.cookie) == session.cookie.split(".")[0]
    True
    >>> session_id_from(key, session.cookie[:-2] + "AA"), session_id_from(key, "x"), session_id_from(key, None)
    (None, None, None)
    """
    if not cookie or cookie.count(".") != 1 or len(cookie) > 200 or not cookie.isascii():
        return None
    session_id, signature = cookie.split(".")
    if not hmac.compare_digest(signature, _b64(_mac(key, "session", session_id))):
        return None
    return session_id


def csrf_token(key: bytes, session_id: str) -> str:
    """The CSRF token of a session: the same for the whole session, unguessable without the key."""
    return _b64(_mac(key, "csrf", session_id))


def token_equal(presented: str | None, expected: str) -> bool:
    """Constant-time comparison of a presented token with the expected one (missing: False)."""
    return presented is not None and hmac.compare_digest(presented.encode(), expected.encode())


def admin_token_mac(key: bytes, admin_token: str) -> bytes:
    """What an admin session remembers of INTAKE_ADMIN_TOKEN: a keyed hash, so a changed token ends it."""
    return _mac(key, "admin", admin_token)


def sign_in_nonce(key: bytes) -> tuple[str, str]:
    """A (cookie value, form field value) pair for the sign-in form: the field is the cookie's HMAC."""
    nonce = secrets.token_urlsafe(16)
    return nonce, _b64(_mac(key, "sign-in", nonce))


def sign_in_nonce_ok(key: bytes, cookie: str | None, field: str | None) -> bool:
    return cookie is not None and token_equal(field, _b64(_mac(key, "sign-in", cookie)))


def signed_flash(key: bytes, message: str) -> str:
    """A short message for the next page (after a redirect), signed so that no one else can plant one."""
    text = _b64(message.encode())
    return f"{text}.{_b64(_mac(key, 'flash', text))}"


def flash_from(key: bytes, cookie: str | None) -> str | None:
    """The message in a flash cookie if its signature is right.

    >>> key = console_key("k")
    >>> flash_from(key, signed_flash(key, "Inbox saved.")), flash_from(key, "SW5ib3g.AAAA")
    ('Inbox saved.', None)
    """
    if not cookie or cookie.count(".") != 1 or len(cookie) > 2000:
        return None
    text, signature = cookie.split(".")
    if not hmac.compare_digest(signature.encode(), _b64(_mac(key, "flash", text)).encode()):
        return None
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)).decode()
    except ValueError:
        return None


def safe_next(target: str | None) -> str:
    """Where to go after signing in: a path on this site only, never another host (open redirect).

    >>> safe_next("/inboxes?x=1"), safe_next("//evil.example/"), safe_next("https://evil.example"), safe_next(None)
    ('/inboxes?x=1', '/inboxes', '/inboxes', '/inboxes')
    >>> safe_next("/\\\\evil.example"), safe_next("/sign-in")
    ('/inboxes', '/inboxes')
    """
    if (
        not target
        or not target.startswith("/")
        or target.startswith(("//", "/\\"))
        or any(c in target for c in "\\\r\n\t")
        or len(target) > 2000
        or target.startswith(("/sign-in", "/sign-out"))
    ):
        return "/inboxes"
    return target
