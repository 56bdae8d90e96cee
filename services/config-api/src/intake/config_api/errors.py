"""The config API's exceptions and the public shape of a field error; no HTTP library here.

    ConfigApiError
    ├── NotFound            the id or number names nothing (→ 404)
    ├── Conflict            the request clashes with stored data, e.g. a duplicate name (→ 409)
    ├── InvalidFields       one or more fields are wrong, each with its own message (→ 422)
    ├── TrackerUnavailable  the ingestor's tracker views are not there (yet) (→ 503)
    └── BusUnavailable      RabbitMQ did not take a message the request had to publish (→ 503)

    StartupFailed           the server could not start (database, broker or port); the cause is logged

Error bodies never carry what the client sent: a password in a rejected request must not come back.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class FieldError:
    """One wrong field: where (`loc`, FastAPI style, e.g. ("body", "port")), why, and a machine-readable type."""

    loc: tuple[str | int, ...]
    msg: str
    type: str = "value_error"

    def as_json(self) -> dict[str, Any]:
        return {"type": self.type, "loc": list(self.loc), "msg": self.msg}


class ConfigApiError(Exception):
    """Base of the errors the API turns into a JSON response."""


class NotFound(ConfigApiError):
    pass


class Conflict(ConfigApiError):
    """`inbox_ids`: the inboxes that stand in the way (e.g. still use what is being deleted), if any."""

    def __init__(self, message: str, *, inbox_ids: Sequence[int] = ()) -> None:
        super().__init__(message)
        self.inbox_ids = tuple(inbox_ids)


class InvalidFields(ConfigApiError):
    def __init__(self, errors: Sequence[FieldError]) -> None:
        super().__init__("; ".join(f"{'.'.join(map(str, e.loc))}: {e.msg}" for e in errors))
        self.errors = tuple(errors)


class TrackerUnavailable(ConfigApiError):
    pass


class BusUnavailable(ConfigApiError):
    pass


class StartupFailed(Exception):
    """The HTTP server ended during start; what went wrong is in the log already."""


# Keys of a pydantic error that may hold the submitted value (`input`) or parts of it (`ctx`, e.g. the
# offending value of a custom validator); `url` is noise. Only type, loc and msg are returned.
_PUBLIC_ERROR_KEYS = ("type", "loc", "msg")


def public_errors(errors: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Pydantic/FastAPI validation errors without anything the client sent.

    >>> public_errors([{"type": "missing", "loc": ("body", "email"), "msg": "Field required",
    ...                 "input": {"password": "hunter2"}}])
    [{'type': 'missing', 'loc': ['body', 'email'], 'msg': 'Field required'}]
    """
    public = []
    for error in errors:
        entry = {key: error[key] for key in _PUBLIC_ERROR_KEYS if key in error}
        if "loc" in entry:
            entry["loc"] = list(entry["loc"])
        public.append(entry)
    return public
