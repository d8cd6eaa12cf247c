"""Valetkey's extras, asked for with ``Valetkey-Extras: true``, on the routes that answer Arcade's shapes."""

from __future__ import annotations

import pytest

from tests.e2e.wire_strict import SPLINES
from tests.support.auth_flows import new_user

pytestmark = pytest.mark.e2e

EXTRAS = {"Valetkey-Extras": "true"}


class TestValetkeysExtrasWhenAsked:
    def test_the_health_of_each_service(self, session):
        body = session.http.get("/v1/health", headers=EXTRAS).json()
        assert body["healthy"] is True and body["services"]["executor"]["reachable"] is True

    def test_the_tools_name_and_the_authorization_inside_a_refused_execution(self, session):
        user = new_user("wire")
        answer = session.http.post(
            "/v1/tools/execute", json={"tool_name": SPLINES, "user_id": user}, headers=EXTRAS
        )
        assert answer.status_code == 403
        body = answer.json()
        assert body["tool_name"] == SPLINES and body["output"]["authorization"]["status"] == "pending"

    def test_a_workers_grants_and_refused_tools(self, session, worker):
        body = session.http.get("/v1/workers/wire-vault", headers=EXTRAS).json()
        assert body["grants"]["pinned"] is False and body["refused_tools"] == []
        health = session.http.get("/v1/workers/wire-vault/health", headers=EXTRAS).json()
        assert health["refused_tools"] == []
