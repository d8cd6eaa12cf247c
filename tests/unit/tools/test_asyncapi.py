"""The committed AsyncAPI documents are what FastStream generates now, and name every subject served."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from shared.bus import subjects
from tools.asyncapi import DEFAULT_DIR, SERVICES, build_service, main, write_asyncapi

# What each service must answer on (request-reply and broadcasts), by shared.bus.subjects constant.
SERVED = {
    "authorizer": [
        "AUTH_START", "AUTH_STATUS", "AUTH_CALLBACK", "AUTH_CONFIRM_USER", "AUTH_FLOW_INFO",
        "PROVIDERS_LIST", "PROVIDERS_GET", "PROVIDERS_CREATE", "PROVIDERS_UPDATE", "PROVIDERS_DELETE",
        "CONNECTIONS_LIST", "CONNECTIONS_DELETE",
    ],
    "token_refresher": ["TOKEN_REFRESH"],
    "executor": [
        "TOOLS_LIST", "TOOLS_GET", "TOOLS_AUTHORIZE", "TOOLS_EXECUTE",
        "WORKERS_LIST", "WORKERS_GET", "WORKERS_CREATE", "WORKERS_UPDATE", "WORKERS_DELETE",
        "WORKERS_HEALTH", "WORKERS_TOOLS", "WORKERS_CHANGED",
        "SECRETS_LIST", "SECRETS_UPSERT", "SECRETS_DELETE",
    ],
    "webhooks": [
        "WEBHOOKS_ENDPOINTS_LIST", "WEBHOOKS_ENDPOINTS_GET", "WEBHOOKS_ENDPOINTS_CREATE",
        "WEBHOOKS_ENDPOINTS_UPDATE", "WEBHOOKS_ENDPOINTS_DELETE", "WEBHOOKS_ENDPOINTS_ROTATE",
        "WEBHOOKS_DEAD_LIST", "WEBHOOKS_DEAD_REPLAY", "WEBHOOKS_DEAD_REPLAY_ALL", "WEBHOOKS_DEAD_DELETE",
    ],
}  # fmt: skip

CONSTANTS = {v for k, v in vars(subjects).items() if k.isupper() and isinstance(v, str)}


def addresses(document: dict) -> set[str]:
    return {channel["address"] for channel in document["channels"].values()}


@pytest.fixture(scope="module")
def regenerated(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("asyncapi")
    assert main(["asyncapi", str(out)]) == 0
    return out


class TestGeneration:
    def test_regenerating_gives_exactly_the_committed_documents(self, regenerated):
        for service in SERVICES:
            committed = (DEFAULT_DIR / f"{service}.json").read_text()
            assert (regenerated / f"{service}.json").read_text() == committed, (
                f"docs/asyncapi/{service}.json is stale: run `make docs`"
            )

    def test_generation_is_stable_from_run_to_run(self, regenerated, tmp_path):
        write_asyncapi(tmp_path)
        for service in SERVICES:
            assert (tmp_path / f"{service}.json").read_text() == (regenerated / f"{service}.json").read_text()

    def test_a_wrong_command_prints_usage(self, capsys):
        assert main(["openapi"]) == 2
        assert "usage" in capsys.readouterr().err


class TestSubjects:
    @pytest.mark.parametrize("service", SERVICES)
    def test_every_subject_the_service_serves_is_in_its_document(self, regenerated, service):
        document = json.loads((regenerated / f"{service}.json").read_text())
        wanted = {getattr(subjects, name) for name in SERVED[service]}
        wanted |= {subjects.health_subject(service)}
        assert wanted <= addresses(document), wanted - addresses(document)

    @pytest.mark.parametrize("service", SERVICES)
    def test_every_subject_a_service_subscribes_to_is_a_shared_constant_and_documented(
        self, regenerated, service
    ):
        document = json.loads((regenerated / f"{service}.json").read_text())
        built = build_service(service)
        assert built.app.broker is not None
        subscribed = {str(sub.subject.broker_address) for sub in built.app.broker.subscribers}
        subscribed |= {route.subject for route in built.rpc.routes}
        per_instance = {s for s in subscribed if s.startswith(subjects.health_subject(service) + ".")}
        assert subscribed - per_instance <= CONSTANTS | {subjects.health_subject(service)}
        assert subscribed <= addresses(document)

    def test_each_request_reply_subject_has_its_services_queue_group(self, regenerated):
        queues = {
            "authorizer": "authorizer",
            "token_refresher": "token_refresher",
            "executor": "executor",
            "webhooks": "webhooks",
        }
        for service in SERVICES:
            document = json.loads((regenerated / f"{service}.json").read_text())
            for channel in document["channels"].values():
                subject = channel["address"]
                if subject in {getattr(subjects, n) for n in SERVED[service]} - {subjects.WORKERS_CHANGED}:
                    assert channel["bindings"]["nats"]["queue"] == queues[service], subject
