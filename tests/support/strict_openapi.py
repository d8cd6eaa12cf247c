"""Validate response bodies against the gateway's own ``/openapi.json`` the way a strict client
decodes them: ``null`` only where a field says ``nullable: true`` (OpenAPI 3.0), and no field an
object with ``additionalProperties: false`` does not declare."""

from __future__ import annotations

import copy
from typing import Any

import httpx
from jsonschema import Draft202012Validator

from services.gateway.wire_document import as_json_schema as _as_json_schema


class StrictDocument:
    """The response schemas of one OpenAPI document, ready to check bodies."""

    def __init__(self, document: dict[str, Any]) -> None:
        self.paths: dict[str, Any] = document["paths"]
        self._components = _as_json_schema(copy.deepcopy(document.get("components", {})))

    def response_schema(self, method: str, path: str, status: int) -> dict[str, Any] | None:
        """The documented schema of that answer (None when the document gives none)."""
        responses = self.paths[path][method.lower()]["responses"]
        answer = responses.get(str(status)) or responses.get("default") or {}
        schema = answer.get("content", {}).get("application/json", {}).get("schema")
        return _as_json_schema(schema) if schema is not None else None

    def problems(self, method: str, path: str, status: int, body: Any) -> list[str]:
        """Every way ``body`` breaks its documented schema, as ``<where>: <why>`` lines."""
        schema = self.response_schema(method, path, status)
        if schema is None:
            return [f"{method} {path} {status}: no schema documented"]
        root = {**schema, "components": self._components}
        validator = Draft202012Validator(root)
        return [
            f"{method} {path} {status} at /{'/'.join(map(str, error.absolute_path))}: {error.message}"
            for error in validator.iter_errors(body)
        ]


class StrictSession:
    """An HTTP client of one engine that checks each answer against the document the engine serves
    and keeps the problems."""

    def __init__(self, base_url: str, headers: dict[str, str]) -> None:
        self.http = httpx.Client(base_url=base_url, headers=headers, trust_env=False, timeout=30)
        self.document = StrictDocument(self.http.get("/openapi.json").json())
        self.problems: list[str] = []
        self.checked = 0

    def call(self, method: str, path: str, expect: int, *, template: str | None = None, **kw: Any) -> Any:
        """One request; its status must be ``expect`` and its body must fit the documented schema
        of ``template`` (the operation's path, when ``path`` fills in its parameters)."""
        response = self.http.request(method, path, **kw)
        assert response.status_code == expect, f"{method} {path}: {response.status_code} {response.text}"
        body = response.json()
        operation = template or path.split("?")[0]
        self.problems += self.document.problems(method, operation, expect, body)
        self.checked += 1
        return body
