"""The inbox form's requests and errors: a submission → InboxCreate / InboxPatch, or each error in words.

Pure. The errors are the API's own (pydantic's shape errors and the rules' `FieldError`s), placed on
the form's fields (`inbox_form.LABELS`) and worded for a person; the summary lists them in page order.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from pydantic import BaseModel, ValidationError

from intake.config_api.console.inbox_form import LABELS, Submission
from intake.config_api.errors import FieldError, public_errors
from intake.config_api.inbox_every_error import rule_errors_beyond_shape
from intake.config_api.inbox_requests import InboxCreate, InboxPatch


def parse_request(model: type[BaseModel], sub: Submission) -> BaseModel | None:
    """The request model for the submission, or None with `sub.errors` filled in."""
    try:
        return model.model_validate(sub.body)
    except ValidationError as error:
        sub.shape_errors = public_errors(error.errors())
        sub.errors.update(field_errors(sub.shape_errors, sub))
        return None


def field_errors(errors: Iterable[Mapping[str, Any]], sub: Submission) -> dict[str, str]:
    """{field id: message} from the API's errors (pydantic's or the rules' FieldError.as_json())."""
    found: dict[str, list[str]] = {}
    for error in errors:
        loc = [part for part in error.get("loc", ()) if part != "body"]
        name, message = _where_and_what(loc, error, sub)
        found.setdefault(name, []).append(message)
    return {name: "; ".join(dict.fromkeys(messages)) for name, messages in found.items()}


def _where_and_what(loc: Sequence[Any], error: Mapping[str, Any], sub: Submission) -> tuple[str, str]:
    if not loc:
        return "email", str(error.get("msg", "is not valid"))
    name = str(loc[0])
    if name == "oauth2" and len(loc) > 1:
        name = f"oauth2_{loc[1]}"
    message = error_words(name, error, sub.body.get(name) if name in sub.body else None)
    if name == "ignored_senders" and len(loc) > 1 and isinstance(loc[1], int) and loc[1] < len(sub.sender_lines):
        number, entry = sub.sender_lines[loc[1]]
        message = f"line {number} ({entry!r}) {message}"
    if name not in LABELS:
        name = "email"
    return name, message


def error_words(name: str, error: Mapping[str, Any], value: Any) -> str:
    """An error as a person reads it beside the field."""
    kind = str(error.get("type", ""))
    msg = str(error.get("msg", "is not valid"))
    if kind in ("missing", "null") or (kind == "string_too_short" and not value):
        return "is required"
    if kind == "string_pattern_mismatch":
        if name == "email":
            return "must be an email address, e.g. support@example.com"
        if name == "hostname":
            return "must be a host name or IP address (letters, digits, dots and hyphens)"
        return "must be one line of text, without control characters"
    if kind in ("int_parsing", "int_from_float"):
        return "must be a whole number"
    if kind in ("enum", "literal_error"):
        return "choose one of the options"
    for prefix, replacement in (("Value error, ", ""), ("Input should be ", "must be "), ("String should", "should")):
        if msg.startswith(prefix):
            msg = replacement + msg[len(prefix) :]
    return msg


def rule_errors(errors: Iterable[FieldError], sub: Submission) -> dict[str, str]:
    return field_errors((error.as_json() for error in errors), sub)


def summary(errors: Mapping[str, str]) -> list[tuple[str, str, str]]:
    """(field id, label, message) in page order, for the error summary at the top of the form."""
    return [(name, LABELS[name], errors[name]) for name in LABELS if name in errors]


def create_request(sub: Submission) -> InboxCreate | None:
    """The create request, or None with every error found: the shape's, and the rules' for the rest.

    The API answers a POST the same way (`inbox_every_error`), so a person sees all errors at once.
    """
    request = parse_request(InboxCreate, sub)
    if isinstance(request, InboxCreate):
        return request
    add_rule_errors(rule_errors_beyond_shape(sub.body, sub.shape_errors), sub)
    return None


def patch_request(sub: Submission) -> InboxPatch | None:
    """The PATCH request, or None with the shape's errors (the rules' need the stored inbox: the page adds them)."""
    request = parse_request(InboxPatch, sub)
    return request if isinstance(request, InboxPatch) else None


def add_rule_errors(errors: Iterable[FieldError], sub: Submission) -> None:
    """Add the rules' errors for fields that have none yet (a shape error says the most about its field)."""
    for name, message in rule_errors(errors, sub).items():
        sub.errors.setdefault(name, message)
