"""The OpenAPI document: served without a token, and docs/openapi.json is exactly what the app serves."""

from __future__ import annotations

import json
from pathlib import Path

import httpx

from intake.config_api.openapi import render

COMMITTED = Path(__file__).resolve().parents[3] / "docs" / "openapi.json"
# Reached by a browser sent back from the identity provider, which carries no bearer token.
PUBLIC_API_PATHS = {"/api/v1/oauth2/callback"}


async def test_committed_document_is_the_served_one(anonymous: httpx.AsyncClient) -> None:
    response = await anonymous.get("/openapi.json")
    assert response.status_code == 200  # public: it describes the API, it holds no data
    served = response.json()
    committed = json.loads(COMMITTED.read_text(encoding="utf-8"))
    assert committed == served, "docs/openapi.json is out of date: run `make openapi` and commit it"
    assert COMMITTED.read_text(encoding="utf-8") == render(served), "run `make openapi` to rewrite docs/openapi.json"


async def test_api_operations_declare_the_bearer_token(anonymous: httpx.AsyncClient) -> None:
    document = (await anonymous.get("/openapi.json")).json()
    operations = [
        (path, method, operation)
        for path, methods in document["paths"].items()
        if path.startswith("/api/v1/") and path not in PUBLIC_API_PATHS
        for method, operation in methods.items()
    ]
    assert operations
    unprotected = [(path, method) for path, method, operation in operations if not operation.get("security")]
    assert unprotected == []
