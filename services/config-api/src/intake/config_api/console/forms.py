"""Reading a console form: an `application/x-www-form-urlencoded` body, bounded in size.

The console's forms post no files, so the standard library's parser is all that is needed (and
`python-multipart` is not). A body over the limit or in another encoding is refused with a reason.
"""

from __future__ import annotations

from urllib.parse import parse_qsl

from starlette.requests import Request

# The largest field is an inbox's CA certificate (200 000 characters, inboxes.MAX_CA_CERTIFICATE_LENGTH).
MAX_FORM_BYTES = 512 * 1024


class FormRefused(Exception):
    """The body is not a console form: too large, or not URL-encoded UTF-8."""


class Form:
    """The fields of a submitted form; a field may repeat (checkbox groups)."""

    def __init__(self, pairs: list[tuple[str, str]]) -> None:
        self._pairs = pairs

    def get(self, name: str, default: str = "") -> str:
        return next((value for key, value in self._pairs if key == name), default)

    def get_all(self, name: str) -> list[str]:
        return [value for key, value in self._pairs if key == name]

    def __contains__(self, name: object) -> bool:
        return any(key == name for key, _ in self._pairs)


async def read_form(request: Request) -> Form:
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    body = bytearray()
    async for chunk in request.stream():
        body.extend(chunk)
        if len(body) > MAX_FORM_BYTES:
            raise FormRefused(f"the form is larger than {MAX_FORM_BYTES // 1024} KiB")
    if not body:
        return Form([])
    if content_type != "application/x-www-form-urlencoded":
        raise FormRefused("the form must be sent URL-encoded")
    try:
        text = body.decode("ascii")
        pairs = parse_qsl(text, keep_blank_values=True, strict_parsing=False, encoding="utf-8", errors="strict")
    except (UnicodeDecodeError, ValueError):
        raise FormRefused("the form is not valid URL-encoded UTF-8") from None
    # PostgreSQL text cannot hold NUL; a browser never sends one in a field.
    return Form([(key, value.replace("\x00", "")) for key, value in pairs])
