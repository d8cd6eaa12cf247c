"""Every error answer is Arcade's closed error body: in the document, and from every list's range check."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.e2e


class TestTheErrorBody:
    def test_every_error_answer_in_the_document_is_arcades_closed_error(self, session):
        document = session.http.get("/openapi.json").json()
        error = document["components"]["schemas"]["Error"]
        assert (set(error["properties"]), error["additionalProperties"]) == ({"name", "message"}, False)
        wrong = []
        for path, operations in document["paths"].items():
            for method, operation in operations.items():
                for status, answer in operation["responses"].items():
                    schema = answer.get("content", {}).get("application/json", {}).get("schema")
                    if (method, path, status) == ("get", "/v1/health", "503"):
                        assert schema == {"$ref": "#/components/schemas/HealthFailure"}
                        continue  # Arcade's health answer, saying what is wrong (§1.6)
                    if status[0] in "45" and schema != {"$ref": "#/components/schemas/Error"}:
                        wrong.append(f"{method} {path} {status}")
        assert wrong == []


class TestEveryListRefusesAnOffsetPastItsRange:
    @pytest.mark.parametrize(
        "path",
        [
            "/v1/tools",
            "/v1/formatted_tools",
            "/v1/admin/user_connections",
            "/v1/admin/secrets",
            "/v1/workers",
            "/v1/admin/webhooks",
            "/v1/admin/webhooks/dead_letters",
            "/v1/admin/executions",
            "/v1/scheduled_tools",
            "/v1/admin/mcp_gateways",
        ],
    )
    def test_a_huge_offset_is_a_400_in_the_error_shape(self, session, path):
        for query in ("offset=9223372036854775807", "offset=-1", "limit=-1", "limit=99999999999999999999"):
            response = session.http.get(f"{path}?{query}")
            if query.startswith("limit=9"):
                assert response.status_code in (200, 400), (path, query, response.text)
                continue
            assert response.status_code == 400, (path, query, response.text)
            assert set(response.json()) == {"name", "message"}
