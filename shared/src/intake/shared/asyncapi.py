"""The AsyncAPI 3.0 document of the bus, built from the contracts and the topology: docs/asyncapi.yaml.

`make asyncapi` writes it (`python -m intake.shared.asyncapi PATH`); a test fails while the committed
file differs from what this builds, and validates it against the AsyncAPI 3.0 JSON schema. The payload
schemas are the contracts' own JSON schemas, their shared definitions moved to components/schemas.
"""

from __future__ import annotations

import sys
from importlib.metadata import version
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from intake.shared import topology
from intake.shared.block_yaml import render
from intake.shared.contracts import (
    FetchedBatch,
    InboxChanged,
    InboxStatus,
    IssueEvent,
    MessageFetched,
    MessageProcessed,
    ProcessedBatch,
)

AMQP_BINDING_VERSION = "0.3.0"
_REF_TEMPLATE = "#/components/schemas/{model}"

# The routing keys whose messages are about one fetched email and carry its correlation id.
CORRELATED = {topology.MESSAGE_FETCHED, topology.MESSAGE_PROCESSED, topology.ISSUE_CREATED, topology.ISSUE_UPDATED}
# Routing key -> (channel id, contract, who publishes it, what it means).
EVENTS: dict[str, tuple[str, type[BaseModel], str, str]] = {
    topology.MESSAGE_FETCHED: (
        "messageFetched",
        MessageFetched,
        "the fetcher, once the raw message is in the blob store; config-api when the email log reprocesses one",
        "A message was fetched from an inbox; its raw bytes are in the blob store under `raw_sha256`.",
    ),
    topology.MESSAGE_PROCESSED: (
        "messageProcessed",
        MessageProcessed,
        "the ingestor, for every message it finished with (skips and failures included)",
        "The outcome of one fetched message; the fetcher applies the mailbox action after it.",
    ),
    topology.INBOX_STATUS: (
        "inboxStatus",
        InboxStatus,
        "the fetcher that owns the inbox, when its health changes and at most once a minute after a success",
        "An inbox's health; the newest `reported_at` wins.",
    ),
    topology.INBOX_CHANGED: (
        "inboxChanged",
        InboxChanged,
        "config-api when an inbox is created, changed or deleted; a fetcher when it releases leases",
        "A hint to re-read an inbox now; fetchers also re-read on their own, so a lost hint only delays.",
    ),
    topology.ISSUE_CREATED: (
        "issueCreated",
        IssueEvent,
        "the ingestor, after the commit that created the issue",
        "An issue was created from a message. For other systems to follow: bind your own queue.",
    ),
    topology.ISSUE_UPDATED: (
        "issueUpdated",
        IssueEvent,
        "the ingestor, after the commit that appended a message to the issue",
        "A message was added to an existing issue. For other systems to follow: bind your own queue.",
    ),
}
# Routing key -> the further shapes its messages may take: (message id, contract, who publishes it, what
# it means). Correlation ids of such a shape travel in its payload.
ALSO: dict[str, tuple[tuple[str, type[BaseModel], str, str], ...]] = {
    topology.MESSAGE_FETCHED: (
        (
            "messageFetchedBatch",
            FetchedBatch,
            "the fetcher, for the messages of one FETCH it stored together",
            "Several fetched messages in one message, each with its correlation id; consumers of "
            "`message.fetched` read both shapes.",
        ),
    ),
    topology.MESSAGE_PROCESSED: (
        (
            "messageProcessedBatch",
            ProcessedBatch,
            "the ingestor, for the messages one transaction of its batch path committed",
            "The outcomes of several fetched messages in one message, each with its correlation id; consumers "
            "of `message.processed` read both shapes.",
        ),
    ),
}
# Operation ids name the services by these.
SERVICES = {"fetcher": "fetcher", "ingestor": "ingestor", "configApi": "config-api"}
# Work queue -> (channel id, consuming service).
QUEUES: dict[str, tuple[str, str]] = {
    topology.INGESTOR_QUEUE: ("ingestorMessageFetched", "ingestor"),
    topology.EMAIL_LOG_FETCHED_QUEUE: ("emailLogFetched", "configApi"),
    topology.FETCHER_PROCESSED_QUEUE: ("fetcherMessageProcessed", "fetcher"),
    topology.EMAIL_LOG_PROCESSED_QUEUE: ("emailLogProcessed", "configApi"),
    topology.INBOX_STATUS_QUEUE: ("inboxStatusQueue", "configApi"),
}
# Who publishes each routing key (operation ids are `<service>Sends<Channel>`).
PUBLISHERS: dict[str, tuple[str, ...]] = {
    topology.MESSAGE_FETCHED: ("fetcher", "configApi"),
    topology.MESSAGE_PROCESSED: ("ingestor",),
    topology.INBOX_STATUS: ("fetcher",),
    topology.INBOX_CHANGED: ("configApi", "fetcher"),
    topology.ISSUE_CREATED: ("ingestor",),
    topology.ISSUE_UPDATED: ("ingestor",),
}


def _ref(*path: str) -> dict[str, str]:
    return {"$ref": "#/" + "/".join(path)}


def _exchange(name: str) -> dict[str, Any]:
    return {"name": name, "type": "topic", "durable": True, "autoDelete": False, "vhost": "/"}


def _schemas() -> dict[str, Any]:
    """Every contract's JSON schema, with the definitions they share (enums) beside them."""
    schemas: dict[str, Any] = {}
    for model in (
        MessageFetched,
        FetchedBatch,
        MessageProcessed,
        ProcessedBatch,
        InboxStatus,
        InboxChanged,
        IssueEvent,
    ):
        schema = model.model_json_schema(ref_template=_REF_TEMPLATE)
        schemas.update(schema.pop("$defs", {}))
        schemas[model.__name__] = schema
    delivery_count = {
        "type": "integer",
        "description": "Set by RabbitMQ on deliveries from a quorum queue: earlier deliveries of this message.",
    }
    schemas["Headers"] = {
        "type": "object",
        "description": (
            "AMQP headers of inbox events. The schema version travels in the payload (`schema_version`); "
            "a consumer accepts the versions its contract lists."
        ),
        "properties": {"x-delivery-count": delivery_count},
    }
    schemas["CorrelatedHeaders"] = {
        "type": "object",
        "description": (
            "AMQP headers of the events about one fetched email. The schema version travels in the payload "
            "(`schema_version`); a consumer accepts the versions its contract lists."
        ),
        "properties": {
            topology.CORRELATION_HEADER: {
                "type": "string",
                "description": (
                    "The email's correlation id: set by the fetcher on `message.fetched` (and kept when the email "
                    "log reprocesses it), copied by the ingestor onto `message.processed` and the issue event, "
                    "logged by all three services and shown on the email log entry."
                ),
            },
            "x-delivery-count": delivery_count,
        },
    }
    schemas["DeadLetterHeaders"] = {
        "type": "object",
        "description": "Headers RabbitMQ adds when it dead-letters a message, besides the original ones.",
        "properties": {
            "x-first-death-queue": {"type": "string", "description": "The queue the message first died in."},
            "x-first-death-reason": {"type": "string", "description": "`delivery_limit` or `rejected`."},
            "x-first-death-exchange": {"type": "string"},
            "x-death": {"type": "array", "items": {"type": "object"}, "description": "One entry per death."},
        },
    }
    return dict(sorted(schemas.items()))


def _message_ids(routing_key: str) -> list[str]:
    """The ids of every message shape that travels on `routing_key`: its contract's first."""
    return [EVENTS[routing_key][0], *(also[0] for also in ALSO.get(routing_key, ()))]


def _messages() -> dict[str, Any]:
    messages: dict[str, Any] = {}
    for routing_key, event in EVENTS.items():
        for message_id, model, publisher, summary in (event, *ALSO.get(routing_key, ())):
            version_field = model.model_fields["schema_version"]
            correlated = routing_key in CORRELATED and model is event[1]
            messages[message_id] = {
                "name": message_id,
                "title": routing_key,
                "summary": summary,
                "description": (
                    f"Published by {publisher}. Persistent (delivery mode 2), confirmed, JSON. "
                    f"Current schema version {version_field.default}."
                ),
                "contentType": "application/json",
                "headers": _ref("components", "schemas", "CorrelatedHeaders" if correlated else "Headers"),
                "payload": _ref("components", "schemas", model.__name__),
                "bindings": {"amqp": {"messageType": routing_key, "bindingVersion": AMQP_BINDING_VERSION}},
            }
    return messages


def _queue_binding(name: str, *, exclusive: bool = False) -> dict[str, Any]:
    return {
        "amqp": {
            "is": "queue",
            "queue": {"name": name, "durable": not exclusive, "exclusive": exclusive, "autoDelete": exclusive},
            "bindingVersion": AMQP_BINDING_VERSION,
        }
    }


def _channels(delivery_limit: int) -> dict[str, Any]:
    channels: dict[str, Any] = {}
    for routing_key, (channel_id, _model, _publisher, summary) in EVENTS.items():
        channels[channel_id] = {
            "address": routing_key,
            "title": f"{topology.EXCHANGE_NAME} / {routing_key}",
            "description": f"Routing key `{routing_key}` on the topic exchange `{topology.EXCHANGE_NAME}`. {summary}",
            "messages": {
                message_id: _ref("components", "messages", message_id) for message_id in _message_ids(routing_key)
            },
            "bindings": {
                "amqp": {
                    "is": "routingKey",
                    "exchange": _exchange(topology.EXCHANGE_NAME),
                    "bindingVersion": AMQP_BINDING_VERSION,
                }
            },
        }
    for queue, routing_key in topology.WORK_QUEUES:
        channel_id, consumer = QUEUES[queue]
        channels[channel_id] = {
            "address": queue,
            "title": queue,
            "description": (
                f"Quorum queue bound to `{routing_key}`, consumed by {SERVICES[consumer]}. After {delivery_limit} "
                f"deliveries (INTAKE_DELIVERY_LIMIT) a message is dead-lettered to "
                f"`{topology.DEAD_LETTER_EXCHANGE_NAME}` (at-least-once; the queue rejects publishes while full)."
            ),
            "messages": {
                message_id: _ref("components", "messages", message_id) for message_id in _message_ids(routing_key)
            },
            "bindings": _queue_binding(queue),
        }
    changed = EVENTS[topology.INBOX_CHANGED][0]
    channels["fetcherInboxChanged"] = {
        "address": "fetcher.inbox-changed.{replica}",
        "title": "a fetcher replica's inbox.changed queue",
        "description": "One classic, exclusive, auto-deleted queue per fetcher replica, bound to "
        f"`{topology.INBOX_CHANGED}`; acked on receipt (a hint: a lost one only waits for the next refresh).",
        "parameters": {"replica": {"description": "The replica's id: host-pid-random, new at every start."}},
        "messages": {changed: _ref("components", "messages", changed)},
        "bindings": _queue_binding("fetcher.inbox-changed.{replica}", exclusive=True),
    }
    channels["deadLetter"] = {
        "address": topology.DEAD_LETTER_QUEUE_NAME,
        "title": topology.DEAD_LETTER_QUEUE_NAME,
        "description": (
            f"Every message a work queue gave up on, routed through the topic exchange "
            f"`{topology.DEAD_LETTER_EXCHANGE_NAME}` with its original routing key (bound `#`) into this quorum "
            "queue, where it stays until `make replay-dlq` (`intake-replay-dlq`) republishes it to the queue "
            "named by `x-first-death-queue` through the default exchange."
        ),
        "messages": {
            message_id: _ref("components", "messages", message_id)
            for message_id in sorted({m for _queue, key in topology.WORK_QUEUES for m in _message_ids(key)})
        },
        "bindings": _queue_binding(topology.DEAD_LETTER_QUEUE_NAME),
    }
    return channels


def _operations() -> dict[str, Any]:
    operations: dict[str, Any] = {}
    for routing_key, publishers in PUBLISHERS.items():
        channel_id = EVENTS[routing_key][0]
        for publisher in publishers:
            operations[f"{publisher}Sends{channel_id[0].upper()}{channel_id[1:]}"] = {
                "action": "send",
                "channel": _ref("channels", channel_id),
                "messages": [_ref("channels", channel_id, "messages", m) for m in _message_ids(routing_key)],
            }
    for queue, routing_key in topology.WORK_QUEUES:
        channel_id, consumer = QUEUES[queue]
        operations[f"{consumer}Receives{channel_id[0].upper()}{channel_id[1:]}"] = {
            "action": "receive",
            "channel": _ref("channels", channel_id),
            "messages": [_ref("channels", channel_id, "messages", m) for m in _message_ids(routing_key)],
        }
    changed = EVENTS[topology.INBOX_CHANGED][0]
    operations["fetcherReceivesInboxChanged"] = {
        "action": "receive",
        "channel": _ref("channels", "fetcherInboxChanged"),
        "messages": [_ref("channels", "fetcherInboxChanged", "messages", changed)],
    }
    operations["replayDeadLetters"] = {
        "action": "receive",
        "summary": "`intake-replay-dlq` moves dead-lettered messages back to the queue each died in.",
        "channel": _ref("channels", "deadLetter"),
    }
    return operations


def asyncapi_document(delivery_limit: int = 5) -> dict[str, Any]:
    """The whole document; `delivery_limit` is INTAKE_DELIVERY_LIMIT's default, named in the queues' text."""
    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": "Intake message bus",
            "version": version("intake-shared"),
            "description": (
                "The events Intake's services exchange over RabbitMQ, and that other systems may consume by "
                f"binding their own queue to the topic exchange `{topology.EXCHANGE_NAME}`. Generated from "
                "intake.shared.contracts and intake.shared.topology by `make asyncapi`."
            ),
            "license": {"name": "GPL-3.0-or-later"},
        },
        "defaultContentType": "application/json",
        "servers": {
            "rabbitmq": {
                "host": "rabbitmq:5672",
                "protocol": "amqp",
                "protocolVersion": "0.9.1",
                "description": "RabbitMQ 3.10 or newer (quorum queues); the address is INTAKE_AMQP_URL.",
            }
        },
        "channels": _channels(delivery_limit),
        "operations": _operations(),
        "components": {"schemas": _schemas(), "messages": _messages()},
    }


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m intake.shared.asyncapi PATH", file=sys.stderr)
        return 2
    text = "# Generated by `make asyncapi` from intake.shared.contracts and intake.shared.topology; do not edit.\n"
    Path(argv[0]).write_text(text + render(asyncapi_document()) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
