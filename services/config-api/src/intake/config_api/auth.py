"""Who may call the API: a presented bearer token against the admin token (`INTAKE_ADMIN_TOKEN`).

Pure. The comparison takes constant time, so response timing reveals nothing about the token. Issued
API tokens (issue 5) plug in beside `token_matches` as another way to accept a presented token.
"""

from __future__ import annotations

import hmac


def token_matches(presented: str | None, expected: str) -> bool:
    """Whether `presented` is `expected`, compared in constant time."""
    if presented is None:
        return False
    return hmac.compare_digest(presented.encode("utf-8"), expected.encode("utf-8"))
