"""Decoding a consumed event body into its contract, or settling it as the ack policy says when it is not one.

A body that is not the contract can never succeed (`ack_policy.undecodable`: rejected to the dead-letter
queue at once, since retrying it would only burn deliveries); the log line names where the body is wrong
without echoing it (it may carry addresses or subjects).
"""

from __future__ import annotations

from typing import TypeVar

import structlog
from faststream.exceptions import AckMessage, HandlerException, RejectMessage
from pydantic import ValidationError

from intake.shared.ack_policy import Action, undecodable
from intake.shared.contracts import Contract

log = structlog.get_logger(__name__)

C = TypeVar("C", bound=Contract)

# How a faststream handler settles its delivery at once: by raising one of these. A requeue is not
# here: faststream's would be at once, without the policy's delay (and `undecodable` never asks one).
_SETTLING: dict[Action, type[HandlerException]] = {
    Action.ACK: AckMessage,
    Action.REJECT: RejectMessage,
}


def decode_or_reject(contract: type[C], body: bytes, queue: str) -> C:
    """`body` as `contract`; if it is not one, one log line and the `undecodable` settlement raised
    (RejectMessage: dead-lettered without a retry)."""
    try:
        return contract.model_validate_json(body)
    except ValidationError as error:
        first = error.errors()[0]
        settlement = undecodable()
        log.error(
            "rejecting undecodable event",
            queue=queue,
            loc=list(first["loc"]),
            error_type=first["type"],
            why=settlement.reason,
        )
        raise _SETTLING[settlement.action]() from None
