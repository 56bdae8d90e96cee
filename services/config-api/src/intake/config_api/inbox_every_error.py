"""Every error of a refused inbox create or change at once: after the shape's errors, the cross-field rules'
errors of the fields that did parse (a custom server without a hostname is named even when the address is bad).

Pure. The rules are `resolve_create`'s and `resolve_patch`'s; this module only decides on which fields they
may safely run. A shape error's `loc` may start with "body" (FastAPI's) or with the field (pydantic's own).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from pydantic import ValidationError

from intake.config_api.errors import FieldError
from intake.config_api.inbox_requests import InboxCreate, InboxPatch
from intake.config_api.inbox_resolution import resolve_create

# Fields no cross-field rule reads: when wrong, a stand-in lets the rules run on the others.
_STAND_INS = {"email": "stand-in@example.invalid", "directory": "INBOX"}
# Fields the rules hinge on: when wrong, any rule's verdict would be a guess, so none is given.
_DECISIVE = frozenset({"provider", "auth"})


def wrong_fields(shape_errors: Sequence[Mapping[str, Any]]) -> set[str] | None:
    """The top-level fields the shape errors name, or None when the body as a whole is wrong (not an object).

    >>> sorted(wrong_fields([{"loc": ("body", "port")}, {"loc": ("oauth2", "client_id")}]))
    ['oauth2', 'port']
    >>> wrong_fields([{"loc": ("body",)}]) is None
    True
    """
    wrong = set()
    for error in shape_errors:
        loc = [part for part in error.get("loc", ()) if part != "body"]
        if not loc:
            return None
        wrong.add(str(loc[0]))
    return wrong


def beyond_shape(errors: Iterable[FieldError], wrong: set[str]) -> list[FieldError]:
    """The rules' errors about fields the shape errors do not already name (the shape's say more)."""
    return [error for error in errors if len(error.loc) < 2 or error.loc[1] not in wrong]


def rule_errors_beyond_shape(body: object, shape_errors: Sequence[Mapping[str, Any]]) -> list[FieldError]:
    """For a create: the rules' errors for the top-level fields of `body` that the shape errors do not name.

    >>> [e.loc for e in rule_errors_beyond_shape({"provider": "custom", "email": "x"},
    ...                                          [{"loc": ("body", "email"), "type": "string_too_short"}])]
    [('body', 'hostname'), ('body', 'port'), ('body', 'password')]
    >>> len(rule_errors_beyond_shape({"provider": "custom", "email": ""}, [{"loc": ("email",)}]))
    3
    >>> rule_errors_beyond_shape({"provider": "aol"}, [{"loc": ("body", "provider"), "type": "enum"}])
    []
    """
    wrong = wrong_fields(shape_errors)
    if not isinstance(body, Mapping) or wrong is None or wrong & _DECISIVE or "provider" not in body:
        return []
    rest = {name: value for name, value in body.items() if name not in wrong}
    rest |= {name: value for name, value in _STAND_INS.items() if name in wrong or name not in rest}
    try:
        request = InboxCreate.model_validate(rest)
    except ValidationError:
        return []
    resolved = resolve_create(request)
    return beyond_shape(resolved, wrong) if isinstance(resolved, list) else []


def patch_of_the_rest(body: object, shape_errors: Sequence[Mapping[str, Any]]) -> InboxPatch | None:
    """For a change: a PATCH of only the fields that parsed (a field left out keeps its stored value), so
    `resolve_patch` can check the rules on them; None if there is nothing safe to check.

    >>> patch_of_the_rest({"port": "nine", "hostname": None}, [{"loc": ("body", "port")}]).model_fields_set
    {'hostname'}
    """
    wrong = wrong_fields(shape_errors)
    if not isinstance(body, Mapping) or wrong is None or wrong & _DECISIVE:
        return None
    try:
        return InboxPatch.model_validate({name: value for name, value in body.items() if name not in wrong})
    except ValidationError:
        return None
