"""The permission matrix of ``shared.bus.permissions`` against what the services really serve and send."""

from __future__ import annotations

import json

import pytest

from shared.bus import subjects
from shared.bus.permissions import (
    GRANTS,
    User,
    inbox_prefix,
    main,
    permissions,
    render_authorization,
    service_users,
)
from tools.asyncapi import SERVICES as NATS_ONLY_SERVICES
from tools.asyncapi import build_service

# Requests the gateway sends (services/gateway/routes/, and the console's forced refresh): every
# request-reply subject.
REQUESTS = [
    v
    for k, v in vars(subjects).items()
    if k.isupper()
    and isinstance(v, str)
    and v.startswith(("vk.auth.", "vk.admin.", "vk.tools.", "vk.tokens."))
]
# Who else sends a request, and which (services/executor/adapters.py, shared/tokens/freshness.py).
OTHER_ASKERS = {
    "authorizer": {subjects.TOKEN_REFRESH},
    "executor": {subjects.AUTH_START, subjects.TOKEN_REFRESH, subjects.WORKERS_CHANGED},
}


def matches(pattern: str, subject: str) -> bool:
    """NATS wildcard matching: ``*`` one token, ``>`` one or more at the end."""
    wanted, given = pattern.split("."), subject.split(".")
    for i, token in enumerate(wanted):
        if token == ">":
            return len(given) > i
        if i >= len(given) or (token != "*" and token != given[i]):
            return False
    return len(wanted) == len(given)


def may_subscribe(service: str, subject: str) -> bool:
    return any(matches(p, subject) for p in permissions(service).subscribe)


def may_publish(service: str, subject: str) -> bool:
    return any(matches(p, subject) for p in permissions(service).publish)


def served_by(service: str) -> set[str]:
    """The subjects the service subscribes to as ``python -m services.<name>`` builds it."""
    built = build_service(service)
    assert built.app.broker is not None
    served = {str(sub.subject.broker_address) for sub in built.app.broker.subscribers}
    return served | {route.subject for route in built.rpc.routes}


def test_every_service_has_a_user_and_nothing_else_has_one():
    assert set(GRANTS) == set(subjects.SERVICES)


@pytest.mark.parametrize("service", NATS_ONLY_SERVICES)
def test_a_service_may_subscribe_to_every_subject_it_serves(service):
    refused = {s for s in served_by(service) if not may_subscribe(service, s)}
    assert refused == set()


@pytest.mark.parametrize("service", NATS_ONLY_SERVICES)
def test_no_other_service_may_subscribe_to_what_a_service_serves(service):
    others = [s for s in subjects.SERVICES if s != service]
    trespassers = {(o, s) for s in served_by(service) for o in others if may_subscribe(o, s)}
    assert trespassers == set()


@pytest.mark.parametrize("subject", REQUESTS)
def test_the_gateway_may_send_every_request_and_serve_none(subject):
    assert may_publish("gateway", subject)
    assert not may_subscribe("gateway", subject)


@pytest.mark.parametrize("service", [s for s in subjects.SERVICES if s != "gateway"])
def test_the_other_services_send_only_the_requests_their_code_sends(service):
    sent = {s for s in REQUESTS if may_publish(service, s)}
    assert sent == OTHER_ASKERS.get(service, set()) - {subjects.WORKERS_CHANGED}


@pytest.mark.parametrize("service", subjects.SERVICES)
def test_no_service_may_read_everything_or_another_services_replies(service):
    for other in subjects.SERVICES:
        reply = f"{inbox_prefix(other)}.abc.1"
        assert may_subscribe(service, reply) == (other == service)
    assert not any(p in (">", "*.>", "_INBOX.>") for p in permissions(service).subscribe)


def test_events_are_published_only_by_the_services_that_write_the_outbox():
    publishers = {s for s in subjects.SERVICES if may_publish(s, subjects.EVT_AUTHORIZATION_COMPLETED)}
    assert publishers == {"authorizer", "token_refresher", "executor"}


def test_the_change_notices_are_read_by_the_gateway_and_the_executor_only():
    readers = {s for s in subjects.SERVICES if may_subscribe(s, subjects.ANSWERS_STALE)}
    assert readers == {"gateway", "executor"}


def test_only_the_webhooks_service_reads_the_streams():
    pull = f"$JS.API.CONSUMER.MSG.NEXT.{subjects.EVENTS_STREAM}.webhooks_fanout_vk"
    assert {s for s in subjects.SERVICES if may_publish(s, pull)} == {"webhooks"}
    assert not may_publish("gateway", f"$JS.API.STREAM.CREATE.{subjects.EVENTS_STREAM}")


def test_the_rendered_block_holds_each_user_with_its_password_and_permissions():
    passwords = {s: f"pw-{s}" for s in subjects.SERVICES}
    text = render_authorization([*service_users(passwords), User("tester", "pw-t")])
    entries = [json.loads(line) for line in text.splitlines() if line.strip().startswith("{")]
    assert text.startswith("authorization {") and "users = [" in text
    by_user = {e["user"]: e for e in entries}
    assert set(by_user) == {*subjects.SERVICES, "tester"}
    assert all(by_user[s]["password"] == f"pw-{s}" for s in subjects.SERVICES)
    executor = by_user["executor"]["permissions"]
    assert executor["subscribe"]["allow"] == list(permissions("executor").subscribe)
    assert executor["publish"]["allow"] == list(permissions("executor").publish)
    assert executor["allow_responses"] is True
    assert "permissions" not in by_user["tester"]


def test_the_command_prints_placeholders_not_passwords(capsys):
    assert main(["gateway"]) == 0
    printed = capsys.readouterr().out
    assert '"password": "<gateway password>"' in printed and '"user": "authorizer"' not in printed
    assert main(["nobody"]) == 2
