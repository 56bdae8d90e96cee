"""Error bodies never carry the submitted values."""

from __future__ import annotations

from intake.config_api.errors import FieldError, InvalidFields, public_errors


def test_public_errors_keep_only_type_loc_msg() -> None:
    errors = [
        {
            "type": "string_too_long",
            "loc": ("body", "password"),
            "msg": "String should have at most 10 characters",
            "input": "hunter2-hunter2",
            "ctx": {"max_length": 10},
            "url": "https://errors.pydantic.dev",
        },
        {"type": "json_invalid", "loc": ("body", 12), "msg": "JSON decode error", "ctx": {"error": "hunter2"}},
    ]
    assert public_errors(errors) == [
        {"type": "string_too_long", "loc": ["body", "password"], "msg": "String should have at most 10 characters"},
        {"type": "json_invalid", "loc": ["body", 12], "msg": "JSON decode error"},
    ]


def test_invalid_fields_message_names_each_field() -> None:
    error = InvalidFields([FieldError(("body", "port"), "required"), FieldError(("query", "cursor"), "bad")])
    assert str(error) == "body.port: required; query.cursor: bad"
    assert error.errors[0].as_json() == {"type": "value_error", "loc": ["body", "port"], "msg": "required"}
