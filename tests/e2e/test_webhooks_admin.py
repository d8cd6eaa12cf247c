"""The webhooks admin API through a real gateway to the webhooks service: endpoints, secrets, target
checks and error answers."""

from __future__ import annotations

import json

import pytest

from tests.e2e.webhook_support import (
    SECRET,
    admin,
    completed,
    endpoint,
    publish,
    until,
    webhook_engine,
)

pytestmark = pytest.mark.e2e


class TestEndpoints:
    async def test_an_endpoint_made_through_the_api_is_listed_updated_rotated_and_deleted(
        self, tmp_path, nats_url, redis_url, receiver
    ):
        hooks = [endpoint("from-config", receiver.url("/config"))]
        async with webhook_engine(
            tmp_path, nats_url, redis_url, endpoints=hooks, allow_private_targets=True
        ) as engine:
            created = admin(
                engine, "POST", "", json={"url": receiver.url("/api"), "events": ["token.refreshed"]}
            )
            assert created.status_code == 201
            hook = created.json()
            assert hook["secret"].startswith("whsec_") and hook["source"] == "api"

            listed = admin(engine, "GET", "").json()
            assert [i["id"] for i in listed["items"]] == ["from-config", hook["id"]]
            assert listed["total_count"] == 2
            assert "secret" not in json.dumps(listed) and "whsec_" not in json.dumps(listed)
            assert admin(engine, "GET", f"/{hook['id']}").json()["events"] == ["token.refreshed"]

            patched = admin(engine, "PATCH", f"/{hook['id']}", json={"events": ["authorization.completed"]})
            assert patched.status_code == 200 and patched.json()["url"] == receiver.url("/api")

            rotated = admin(engine, "POST", f"/{hook['id']}/rotate_secret").json()
            assert rotated["secret"] != hook["secret"]
            await publish(nats_url, [event := completed()])
            await until(lambda: len(receiver.on("/api")) == 1, what="delivery to the api endpoint")
            delivered = receiver.on("/api")[0]
            # Both secrets verify during the rotation grace period, so receivers can switch at leisure.
            assert delivered.verifies_with(rotated["secret"]) and delivered.verifies_with(hook["secret"])
            assert delivered.webhook_id == event.event_id
            await until(lambda: len(receiver.on("/config")) == 1, what="delivery to the config endpoint")
            assert receiver.on("/config")[0].verifies_with(SECRET)

            assert admin(engine, "DELETE", f"/{hook['id']}").status_code == 204
            assert admin(engine, "GET", f"/{hook['id']}").status_code == 404

    async def test_error_answers_follow_the_error_shape(self, tmp_path, nats_url, redis_url, receiver):
        hooks = [endpoint("from-config", receiver.url("/config"))]
        async with webhook_engine(
            tmp_path, nats_url, redis_url, endpoints=hooks, allow_private_targets=True
        ) as engine:
            cases = {
                "unknown id": admin(engine, "GET", "/whe_missing"),
                "unknown id on patch": admin(engine, "PATCH", "/whe_missing", json={"enabled": False}),
                "unknown id on delete": admin(engine, "DELETE", "/whe_missing"),
                "unknown id on rotate": admin(engine, "POST", "/whe_missing/rotate_secret"),
                "unknown dead letter": admin(engine, "POST", "/dead_letters/dl_missing/replay"),
                "no url": admin(engine, "POST", "", json={"events": ["*"]}),
                "not json": admin(engine, "POST", "", content=b"{", headers={**engine.headers}),
                "unknown event type": admin(
                    engine, "POST", "", json={"url": receiver.url("/x"), "events": ["nope"]}
                ),
                "unknown field": admin(
                    engine, "POST", "", json={"url": receiver.url("/x"), "secret": "mine"}
                ),
                "config endpoint": admin(engine, "PATCH", "/from-config", json={"enabled": False}),
                "wrong key": admin(engine, "GET", "", headers={"Authorization": "Bearer nope"}),
                "no key": admin(engine, "POST", "", json={"url": receiver.url("/x")}, headers={}),
            }
        statuses = {name: response.status_code for name, response in cases.items()}
        assert statuses == {
            "unknown id": 404,
            "unknown id on patch": 404,
            "unknown id on delete": 404,
            "unknown id on rotate": 404,
            "unknown dead letter": 404,
            "no url": 400,
            "not json": 400,
            "unknown event type": 400,
            "unknown field": 400,
            "config endpoint": 409,
            "wrong key": 401,
            "no key": 401,
        }
        assert all(set(r.json()) >= {"name", "message"} for r in cases.values())
        assert "nope" in cases["unknown event type"].json()["message"]


REFUSED = {
    "ftp://example.com/hook": "http or https",
    "http://127.0.0.1:9/hook": "loopback, private or link-local",
    "http://10.1.2.3/hook": "loopback, private or link-local",
    "http://169.254.169.254/latest/meta-data": "loopback, private or link-local",
    "http://[::ffff:127.0.0.1]/hook": "loopback, private or link-local",
    "http://localhost:9/hook": "loopback, private or link-local",
    "https://user:pw@example.com/hook": "credentials",
}


class TestTargets:
    async def test_refused_targets_are_answered_with_400_and_nothing_is_stored(
        self, tmp_path, nats_url, redis_url
    ):
        async with webhook_engine(tmp_path, nats_url, redis_url, allow_private_targets=False) as engine:
            answers = {url: admin(engine, "POST", "", json={"url": url}) for url in REFUSED}
            listed = admin(engine, "GET", "").json()
        for url, why in REFUSED.items():
            assert answers[url].status_code == 400, (url, answers[url].text)
            assert answers[url].json()["name"] == "invalid_webhook_target"
            assert why in answers[url].json()["message"], (url, answers[url].json())
        assert listed["total_count"] == 0
