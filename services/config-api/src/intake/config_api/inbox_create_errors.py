"""Every error of a refused inbox create at once: after the shape's errors, the cross-field rules' errors
of the fields that did parse (a custom server without a hostname is named even when the address is bad).

Pure. The rules are `resolve_create`'s; this module only decides on which fields they may safely run.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import ValidationError

from intake.config_api.errors import FieldError
from intake.config_api.inboxes import InboxCreate, resolve_create

# Fields no cross-field rule reads: when wrong, a stand-in lets the rules run on the others.
_STAND_INS = {"email": "stand-in@example.invalid", "directory": "INBOX"}
# Fields the rules hinge on: when wrong, any rule's verdict would be a guess, so none is given.
_DECISIVE = frozenset({"provider", "auth"})


def rule_errors_beyond_shape(body: object, shape_errors: Sequence[Mapping[str, Any]]) -> list[FieldError]:
    """The rules' errors for the top-level fields of `body` that the shape errors do not already name.

    A shape error's `loc` may start with "body" (FastAPI's) or with the field (pydantic's own).

    >>> [e.loc for e in rule_errors_beyond_shape({"provider": "custom", "email": "x"},
    ...                                          [{"loc": ("body", "email"), "type": "string_too_short"}])]
    [('body', 'hostname'), ('body', 'port'), ('body', 'password')]
    >>> len(rule_errors_beyond_shape({"provider": "custom", "email": ""}, [{"loc": ("email",)}]))
    3
    >>> rule_errors_beyond_shape({"provider": "aol"}, [{"loc": ("body", "provider"), "type": "enum"}])
    []
    """
    if not isinstance(body, Mapping):
        return []
    wrong = set()
    for error in shape_errors:
        loc = [part for part in error.get("loc", ()) if part != "body"]  # FastAPI's errors start with "body"
        if not loc:
            return []  # the body as a whole is wrong (not an object): nothing to check field by field
        wrong.add(loc[0])
    if wrong & _DECISIVE or "provider" not in body:
        return []
    rest = {name: value for name, value in body.items() if name not in wrong}
    rest |= {name: value for name, value in _STAND_INS.items() if name in wrong or name not in rest}
    try:
        request = InboxCreate.model_validate(rest)
    except ValidationError:
        return []
    resolved = resolve_create(request)
    if not isinstance(resolved, list):
        return []
    return [error for error in resolved if len(error.loc) < 2 or error.loc[1] not in wrong]
