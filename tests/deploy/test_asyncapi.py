"""docs/asyncapi.yaml: generated from the contracts and the topology, committed, and valid AsyncAPI 3.0.

`make asyncapi` rewrites it; the pin test fails while it is stale. The schema check uses the AsyncAPI
3.0.0 JSON schema of the npm package @asyncapi/specs (deploy/local/validation-tools.sh), offline.
"""

from __future__ import annotations

import doctest
from typing import Any

import yaml

from intake.shared import block_yaml, topology
from intake.shared.asyncapi import asyncapi_document, main
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
from tests.deploy.tools import REPO, run, tool

DOCUMENT = REPO / "docs" / "asyncapi.yaml"
SCHEMA = "npm/node_modules/@asyncapi/specs/schemas/3.0.0-without-$id.json"


def committed() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(DOCUMENT.read_text())
    return loaded


def test_the_committed_document_is_what_the_contracts_give(tmp_path: Any) -> None:
    fresh = tmp_path / "asyncapi.yaml"
    assert main([str(fresh)]) == 0
    assert DOCUMENT.read_text() == fresh.read_text(), "docs/asyncapi.yaml is stale: run `make asyncapi`"


def test_the_rendered_yaml_reads_back_as_the_document() -> None:
    document = asyncapi_document()
    assert yaml.safe_load(render(document)) == document
    assert yaml.safe_load(render({"on": "yes", "a b": [1, None, True, "no"], "x": {}})) == {
        "on": "yes",
        "a b": [1, None, True, "no"],
        "x": {},
    }


def test_the_yaml_writer_examples_hold() -> None:
    result = doctest.testmod(block_yaml)
    assert result.attempted > 0
    assert result.failed == 0


def test_it_is_valid_asyncapi_3() -> None:
    check = tool("validators/bin/check-jsonschema")
    schema = tool(SCHEMA)
    result = run(check, "--schemafile", schema, DOCUMENT)
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_routing_key_queue_and_the_dead_letter_path_are_described() -> None:
    document = committed()
    addresses = {channel["address"] for channel in document["channels"].values()}
    routing_keys = {
        topology.MESSAGE_FETCHED, topology.MESSAGE_PROCESSED, topology.INBOX_STATUS, topology.INBOX_CHANGED,
        topology.ISSUE_CREATED, topology.ISSUE_UPDATED,
    }  # fmt: skip
    assert routing_keys | {queue for queue, _key in topology.WORK_QUEUES} <= addresses
    assert topology.DEAD_LETTER_QUEUE_NAME in addresses
    assert topology.DEAD_LETTER_EXCHANGE_NAME in document["channels"]["deadLetter"]["description"]
    exchanges = {
        channel["bindings"]["amqp"]["exchange"]["name"]
        for channel in document["channels"].values()
        if channel["bindings"]["amqp"]["is"] == "routingKey"
    }
    assert exchanges == {topology.EXCHANGE_NAME}
    messages = document["components"]["messages"]
    correlated = document["components"]["schemas"]["CorrelatedHeaders"]["properties"]
    assert topology.CORRELATION_HEADER in correlated
    # A single event about one email carries its correlation id in a header, a batch in its payload.
    correlated_ref, plain_ref = "#/components/schemas/CorrelatedHeaders", "#/components/schemas/Headers"
    expected = {
        topology.MESSAGE_FETCHED: {"MessageFetched": correlated_ref, "FetchedBatch": plain_ref},
        topology.MESSAGE_PROCESSED: {"MessageProcessed": correlated_ref, "ProcessedBatch": plain_ref},
        topology.ISSUE_CREATED: {"IssueEvent": correlated_ref},
    }
    for routing_key, shapes in expected.items():
        found = {
            message["payload"]["$ref"].rsplit("/", 1)[-1]: message["headers"]["$ref"]
            for message in messages.values()
            if message["title"] == routing_key
        }
        assert found == shapes


def test_payloads_are_the_contracts_json_schemas() -> None:
    schemas = committed()["components"]["schemas"]
    for model in (
        MessageFetched,
        FetchedBatch,
        MessageProcessed,
        ProcessedBatch,
        InboxStatus,
        InboxChanged,
        IssueEvent,
    ):
        expected = model.model_json_schema(ref_template="#/components/schemas/{model}")
        for name, definition in expected.pop("$defs", {}).items():
            assert schemas[name] == definition
        assert schemas[model.__name__] == expected


def test_every_reference_resolves() -> None:
    document = committed()

    def references(node: Any) -> list[str]:
        if isinstance(node, dict):
            found = [node["$ref"]] if "$ref" in node else []
            return found + [ref for value in node.values() for ref in references(value)]
        if isinstance(node, list):
            return [ref for value in node for ref in references(value)]
        return []

    refs = references(document)
    assert refs
    for ref in refs:
        node: Any = document
        for part in ref.removeprefix("#/").split("/"):
            assert isinstance(node, dict), ref
            assert part in node, f"{ref} does not resolve"
            node = node[part]
