"""Structured JSON logging for every service, with secrets redacted before anything is written.

`configure_logging` is called once from a service's `__main__`; library loggers (faststream,
uvicorn, aio-pika) are routed through the same JSON renderer and the same redaction.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import MutableMapping
from typing import Any

import structlog

REDACTED = "[redacted]"
_SECRET_KEY_NAMES = re.compile(r"(?i)(password|passwd|secret|token|authorization|api_key|cookie)")
# Credentials inside URLs: scheme://user:password@host
_URL_CREDENTIALS = re.compile(r"(?P<scheme>[a-z][a-z0-9+.-]*://)(?P<user>[^:/@\s]*):(?P<password>[^@/\s]+)@", re.I)
# Bearer tokens in free text (headers echoed into messages).
_BEARER = re.compile(r"(?i)(bearer\s+)[A-Za-z0-9._~+/=-]+")


def redact_text(text: str) -> str:
    """Remove URL passwords and bearer tokens from free text.

    >>> redact_text("amqp://guest:s3cret@rabbit:5672/ and Bearer abc.def")
    'amqp://guest:[redacted]@rabbit:5672/ and Bearer [redacted]'
    """
    text = _URL_CREDENTIALS.sub(lambda m: f"{m['scheme']}{m['user']}:{REDACTED}@", text)
    return _BEARER.sub(lambda m: f"{m.group(1)}{REDACTED}", text)


def _redact_value(key: str, value: Any) -> Any:
    if _SECRET_KEY_NAMES.search(key) and value not in (None, "", False, True):
        return REDACTED
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, dict):
        return {k: _redact_value(str(k), v) for k, v in value.items()}
    return value


def redact_secrets(_: Any, __: str, event_dict: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """structlog processor: blank values under secret-looking keys, scrub URLs and bearer tokens."""
    for key in list(event_dict):
        event_dict[key] = _redact_value(key, event_dict[key])
    return event_dict


def configure_logging(service: str, level: str = "info") -> None:
    """Send every log line, ours and the libraries', to stdout as one redacted JSON object."""
    numeric_level = logging.getLevelNamesMapping()[level.upper()]
    shared: list[structlog.types.Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.format_exc_info,
        redact_secrets,
    ]
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.make_filtering_bound_logger(numeric_level),
        cache_logger_on_first_use=True,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[structlog.stdlib.ExtraAdder(), *shared],
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.EventRenamer("message"),
            structlog.processors.JSONRenderer(),
        ],
    )
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(numeric_level)
    structlog.contextvars.bind_contextvars(service=service)
    # Per-message INFO lines from the broker library cost throughput (DESIGN §2) and say nothing new.
    logging.getLogger("faststream").setLevel(max(numeric_level, logging.WARNING))
    logging.getLogger("aioimaplib").setLevel(max(numeric_level, logging.WARNING))
    # msal logs token requests at debug level with the authorization code and PKCE verifier in them.
    logging.getLogger("msal").setLevel(max(numeric_level, logging.WARNING))
