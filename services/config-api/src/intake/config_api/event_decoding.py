"""Decoding a consumed event body into its contract, or rejecting it to the dead-letter queue at once.

A body that is not the contract can never succeed, so retrying it would only burn deliveries; the
log line names where the body is wrong without echoing it (it may carry addresses or subjects).
"""

from __future__ import annotations

from typing import TypeVar

import structlog
from faststream.exceptions import RejectMessage
from pydantic import ValidationError

from intake.shared.ack_policy import Ending, settle
from intake.shared.contracts import Contract

log = structlog.get_logger(__name__)

C = TypeVar("C", bound=Contract)


def decode_or_reject(contract: type[C], body: bytes, queue: str) -> C:
    """`body` as `contract`, or RejectMessage (dead-lettered without a retry) with one log line."""
    try:
        return contract.model_validate_json(body)
    except ValidationError as error:
        first = error.errors()[0]
        settlement = settle(Ending.UNDECODABLE, 1, 0)  # the attempt does not matter: it can never succeed
        log.error(
            "rejecting undecodable event",
            queue=queue,
            loc=list(first["loc"]),
            error_type=first["type"],
            why=settlement.reason,
        )
        raise RejectMessage from None
