"""Every endpoint's error answers, over plain HTTP against one running engine.

Arcade's clients only look at the status and the ``{"name", "message"}`` body
(docs/arcade-compatibility.md §1.4): bad input is 400 ``malformed_request``, unknown ids 404
``not_found``, a wrong key 401, an unknown route 404 ``route_not_found``, a wrong method 405, and
nothing a caller sends may turn into a 500 or a stack trace. The routes come from the
gateway's own OpenAPI document.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.support.client_stack import hooli_engine
from tests.support.engine import Engine

pytestmark = pytest.mark.e2e

PUBLIC = {"/v1/health", "/v1/swagger"}
MUTATING = {"post", "patch", "put"}
HANG_DEADLINE_S = 30.0  # thrice the gateway's RPC timeout
LEAKS = re.compile(r"Traceback|File \"/|site-packages|Exception in|\bat 0x[0-9a-f]+")


@pytest.fixture(scope="module")
def engine(tmp_path_factory, nats_url, redis_url) -> Iterator[Engine]:
    home = tmp_path_factory.mktemp("api-errors")
    with hooli_engine(home, nats_url=nats_url, redis_url=redis_url) as (running, _):
        yield running


@pytest.fixture(scope="module")
def http(engine) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=engine.base_url, headers=engine.headers, timeout=30, trust_env=False) as c:
        yield c


@pytest.fixture(scope="module")
def document(http) -> dict[str, Any]:
    return dict(http.get("/openapi.json").json())


def operations(document: dict[str, Any], *, with_body: bool = False) -> list[tuple[str, str]]:
    """(method, concrete path) for every documented operation; path ids become unknown ids."""
    found = []
    for path, ops in document["paths"].items():
        concrete = re.sub(r"\{[^}]+\}", "no-such-id", path)
        found += [(m, concrete) for m, op in ops.items() if not with_body or "requestBody" in op]
    return found


def assert_error(response: httpx.Response, status: int, name: str) -> None:
    assert response.status_code == status, (response.request.method, response.request.url, response.text)
    body = response.json()
    assert set(body) >= {"name", "message"} and body["name"] == name, body
    assert isinstance(body["message"], str) and body["message"]


class TestTheApiKey:
    def test_every_route_but_health_and_the_document_refuses_a_wrong_or_missing_key(self, engine, document):
        checked = 0
        with httpx.Client(base_url=engine.base_url, timeout=30, trust_env=False) as anonymous:
            for method, path in operations(document):
                if path in PUBLIC:
                    continue
                for headers in ({"Authorization": "Bearer arc_wrong"}, {"Authorization": "arc_wrong"}, {}):
                    response = anonymous.request(method, path, headers=headers, json={})
                    assert_error(response, 401, "unauthorized")
                    checked += 1
        assert checked >= 3 * 35

    def test_health_and_the_document_answer_without_a_key(self, engine):
        for path in PUBLIC:
            assert httpx.get(engine.base_url + path, trust_env=False).status_code == 200


BAD_BODIES = [
    ("post", "/v1/auth/authorize", {"user_id": "u"}, "auth_requirement"),
    ("post", "/v1/auth/authorize", {"auth_requirement": {"provider_id": "hooli"}}, "user_id"),
    ("post", "/v1/auth/authorize", {"auth_requirement": {}, "user_id": "u"}, "provider_id"),
    ("post", "/v1/auth/confirm_user", {"user_id": "u"}, "flow_id"),
    ("post", "/v1/tools/authorize", {"user_id": "u"}, "tool_name"),
    ("post", "/v1/tools/authorize", {"tool_name": "Hooli.Ping"}, "user_id"),
    ("post", "/v1/tools/execute", {"tool_name": "Hooli.Ping", "input": "x"}, "input"),
    ("post", "/v1/tools/execute", {"input": {}}, "tool_name"),
    ("post", "/v1/workers", {"id": "w1"}, "http"),
    ("post", "/v1/workers", {"id": "w1", "http": {"uri": "ftp://x"}}, "uri"),
    ("patch", "/v1/workers/no-such-id", [1], "body"),
    ("post", "/v1/admin/auth_providers", {"description": "no id"}, "id"),
    ("patch", "/v1/admin/auth_providers/hooli", [1], "JSON object"),
    ("post", "/v1/admin/secrets/KEY", {"description": "no value"}, "value"),
    ("put", "/v1/admin/secrets/KEY", {"value": 5}, "value"),
    ("post", "/v1/admin/secrets/KEY", {"value": "v" * 5001}, "5000"),
]

BAD_QUERIES = [
    ("/v1/auth/status", {}, "id"),
    ("/v1/auth/status", {"id": "ac_x", "wait": "soon"}, "wait"),
    ("/v1/tools", {"limit": "many"}, "limit"),
    ("/v1/tools/NoSeparatorHere", {}, "NoSeparatorHere"),
    ("/v1/formatted_tools", {"format": "cobol"}, "cobol"),
    ("/v1/formatted_tools/Hooli.Ping", {"format": "cobol"}, "cobol"),
    ("/v1/workers", {"offset": "first"}, "offset"),
    ("/v1/admin/user_connections", {"limit": "many"}, "limit"),
    ("/v1/admin/user_connections", {"offset": str(2**63 - 1)}, "offset"),
    ("/v1/tools", {"offset": "-1"}, "offset"),
    ("/v1/workers", {"limit": "-2"}, "limit"),
    ("/v1/admin/secrets", {"offset": str(2**64)}, "offset"),
]


class TestBadInput:
    @pytest.mark.parametrize(("method", "path", "body", "names"), BAD_BODIES)
    def test_a_bad_body_is_a_400_that_names_the_problem(self, http, method, path, body, names):
        response = http.request(method, path, json=body)
        assert_error(response, 400, "malformed_request")
        assert names in response.json()["message"]

    @pytest.mark.parametrize(("path", "params", "names"), BAD_QUERIES)
    def test_a_bad_query_is_a_400_that_names_the_problem(self, http, path, params, names):
        response = http.get(path, params=params)
        assert_error(response, 400, "malformed_request")
        assert names in response.json()["message"]

    def test_a_body_that_is_not_json_is_a_400_on_every_route_that_takes_one(self, http, document):
        routes = operations(document, with_body=True)
        for method, path in routes:
            response = http.request(
                method, path, content=b"{not json", headers={"content-type": "application/json"}
            )
            assert_error(response, 400, "malformed_request")
        assert len(routes) >= 11


UNKNOWN = [
    ("get", "/v1/auth/status?id=ac_no_such_authorization"),
    ("post", "/v1/auth/confirm_user", {"flow_id": "no-such-flow", "user_id": "u"}),
    ("post", "/v1/auth/authorize", {"auth_requirement": {"provider_id": "nope"}, "user_id": "u"}),
    ("get", "/v1/tools/Hooli.NoSuchTool"),
    ("get", "/v1/tools/Hooli.Ping@9.9.9"),
    ("get", "/v1/formatted_tools/Hooli.NoSuchTool"),
    ("post", "/v1/tools/authorize", {"tool_name": "Hooli.NoSuchTool", "user_id": "u"}),
    ("post", "/v1/tools/execute", {"tool_name": "NoSuchKit.Tool"}),
    ("get", "/v1/workers/no-such-worker"),
    ("patch", "/v1/workers/no-such-worker", {"enabled": False}),
    ("delete", "/v1/workers/no-such-worker"),
    ("get", "/v1/workers/no-such-worker/health"),
    ("get", "/v1/workers/no-such-worker/tools"),
    ("get", "/v1/admin/auth_providers/no-such-provider"),
    ("patch", "/v1/admin/auth_providers/no-such-provider", {"description": "x"}),
    ("delete", "/v1/admin/auth_providers/no-such-provider"),
    ("delete", "/v1/admin/user_connections/uc_no_such_connection"),
    ("delete", "/v1/admin/secrets/sec_no_such_secret"),
    ("get", "/v1/admin/webhooks/whe_no_such_endpoint"),
    ("delete", "/v1/admin/webhooks/dead_letters/dl_no_such_letter"),
]


class TestUnknownThings:
    @pytest.mark.parametrize("case", UNKNOWN, ids=lambda c: f"{c[0]} {c[1]}")
    def test_an_unknown_id_tool_or_provider_is_404_not_found(self, http, case):
        method, path, *body = case
        response = http.request(method, path, json=body[0] if body else None)
        assert_error(response, 404, "not_found")

    @pytest.mark.parametrize(("method", "path"), [("get", "/v1/nope"), ("get", "/v1/tools/a/b/c")])
    def test_an_unknown_route_is_404_route_not_found(self, http, method, path):
        response = http.request(method, path)
        assert_error(response, 404, "route_not_found")

    @pytest.mark.parametrize(
        ("method", "path", "allowed"),
        [
            ("put", "/v1/tools", "GET"),
            ("delete", "/v1/auth/authorize", "POST"),
            ("post", "/v1/health", "GET"),
            ("patch", "/v1/admin/secrets/KEY", "POST"),
        ],
    )
    def test_a_wrong_method_on_a_route_is_405_with_the_allowed_methods(self, http, method, path, allowed):
        response = http.request(method, path)
        assert_error(response, 405, "method_not_allowed")
        assert allowed in response.headers["allow"]


GARBAGE: dict[str, bytes] = {
    "empty": b"",
    "null": b"null",
    "binary": b"\x00\xff\xfe{{",
    "array": b"[1, 2]",
    "string": b'"text"',
    "huge number": b"1e999999",
    "deeply nested": b"[" * 20000 + b"]" * 20000,
    "nulls": b'{"id": null, "tool_name": null, "user_id": null, "value": null, "url": null}',
    "wrong types": b'{"id": 5, "tool_name": 1, "user_id": [], "input": "x", "value": 5, "http": "x"}',
    "lone surrogate": b'{"tool_name": "\\ud800.x", "user_id": "\\u0000"}',
}


class TestFuzz:
    def test_garbage_bodies_never_crash_never_leak_and_never_hang(self, http, document):
        """A body stuck until the gateway's RPC timeout answers 5xx; one stuck for good trips the deadline."""
        for method, path in operations(document):
            if method not in MUTATING:
                continue
            for name, body in GARBAGE.items():
                try:
                    response = http.request(
                        method,
                        path,
                        content=body,
                        headers={"content-type": "application/json"},
                        timeout=HANG_DEADLINE_S,
                    )
                except httpx.TimeoutException:
                    pytest.fail(f"{method} {path} with {name}: no answer within {HANG_DEADLINE_S} s")
                where = f"{method} {path} with {name}: {response.status_code} {response.text[:200]}"
                assert response.status_code < 500, where
                assert not LEAKS.search(response.text), where
                if response.status_code >= 400:
                    assert set(response.json()) >= {"name", "message"}, where

    def test_an_oversized_body_is_refused_with_413_before_it_reaches_nats(self, http, document):
        big = b'{"tool_name": "Hooli.Ping", "input": {"x": "' + b"x" * (2 * 1024 * 1024) + b'"}}'
        for method, path in operations(document):
            if method in MUTATING and path not in PUBLIC:
                response = http.request(
                    method, path, content=big, headers={"content-type": "application/json"}
                )
                assert_error(response, 413, "payload_too_large")

    def test_a_chunked_oversized_body_is_stopped_with_413_too(self, http):
        chunks = (b"x" * 65536 for _ in range(32))
        response = http.post(
            "/v1/tools/execute", content=chunks, headers={"content-type": "application/json"}
        )
        assert_error(response, 413, "payload_too_large")


class TestTheOpenApiDocument:
    def test_it_is_served_at_v1_swagger_too(self, http, document):
        assert http.get("/v1/swagger").json() == document

    def test_every_arcade_endpoint_we_serve_is_in_it(self, document):
        wanted = {
            ("post", "/v1/auth/authorize"), ("get", "/v1/auth/status"), ("post", "/v1/auth/confirm_user"),
            ("get", "/v1/tools"), ("get", "/v1/tools/{name}"), ("post", "/v1/tools/authorize"),
            ("post", "/v1/tools/execute"), ("get", "/v1/formatted_tools"),
            ("get", "/v1/formatted_tools/{name}"), ("get", "/v1/health"), ("get", "/v1/swagger"),
            ("get", "/v1/workers"), ("post", "/v1/workers"), ("get", "/v1/workers/{worker_id}"),
            ("patch", "/v1/workers/{worker_id}"), ("delete", "/v1/workers/{worker_id}"),
            ("get", "/v1/workers/{worker_id}/health"), ("get", "/v1/workers/{worker_id}/tools"),
            ("get", "/v1/admin/auth_providers"), ("post", "/v1/admin/auth_providers"),
            ("get", "/v1/admin/auth_providers/{provider_id}"),
            ("patch", "/v1/admin/auth_providers/{provider_id}"),
            ("delete", "/v1/admin/auth_providers/{provider_id}"),
            ("get", "/v1/admin/user_connections"), ("delete", "/v1/admin/user_connections/{connection_id}"),
            ("get", "/v1/admin/secrets"), ("post", "/v1/admin/secrets/{secret_key}"),
            ("put", "/v1/admin/secrets/{secret_key}"), ("delete", "/v1/admin/secrets/{secret_id}"),
        }  # fmt: skip
        served = {(m, p) for p, ops in document["paths"].items() for m in ops}
        assert wanted <= served, wanted - served

    def test_operations_carry_tags_summaries_the_key_and_arcades_error_shape(self, document):
        assert document["components"]["schemas"]["Error"]["required"] == ["name", "message"]
        assert document["components"]["securitySchemes"]["apiKey"]["name"] == "Authorization"
        for path, ops in document["paths"].items():
            for method, op in ops.items():
                where = f"{method} {path}"
                assert op.get("tags") and op.get("summary"), where
                assert "422" not in op["responses"], where
                if path not in PUBLIC:
                    assert op["security"] == [{"apiKey": []}] and "401" in op["responses"], where
                if "{" in path:
                    assert "404" in op["responses"], where
        create = document["paths"]["/v1/admin/auth_providers"]["post"]
        assert "application/json" in create["requestBody"]["content"]
