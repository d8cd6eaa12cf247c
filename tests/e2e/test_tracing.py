"""OpenTelemetry traces end to end: the engine as processes exporting to a collector in the test.

One engine runs with ``OTEL_EXPORTER_OTLP_ENDPOINT`` at a tiny OTLP/HTTP collector
(tests/support/otlp_collector.py); then another runs with no ``OTEL_*`` at all. Both serve the
``hooli`` provider at the real OAuth server (oidc-provider) and the hooli toolkit in process,
and send ``authorization.completed`` to a webhook receiver of the test's on loopback.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable, Iterator

import httpx
import pytest

from tests.e2e.webhook_support import SECRET, Received, Receiver, RunningReceiver, until
from tests.support.auth_flows import approve, new_user, start, status
from tests.support.engine import Engine, base_config, running_engine
from tests.support.oauth_server import OAuthClient, OAuthServer, start_oauth_server
from tests.support.otlp_collector import ExportedSpan, OtlpCollector
from tests.support.providers import oidc_provider_entry
from tools.launcher import embedded

pytestmark = pytest.mark.e2e

SCOPES = ["scope1", "scope2"]
HOOLI = "tests.support.toolkits.hooli"
PORTS = {"traced": embedded.free_port(), "untraced": embedded.free_port()}


@pytest.fixture(scope="module")
def client() -> OAuthClient:
    redirects = [f"http://127.0.0.1:{port}/oauth/callback" for port in PORTS.values()]
    return OAuthClient("valetkey-hooli", redirects, client_secret="hooli-secret")


@pytest.fixture(scope="module")
def oauth(tmp_path_factory, client) -> Iterator[OAuthServer]:
    with start_oauth_server(tmp_path_factory.mktemp("oauth"), clients=[client]) as server:
        yield server


@pytest.fixture(scope="module")
def collector() -> Iterator[OtlpCollector]:
    with OtlpCollector() as running:
        yield running


@pytest.fixture(scope="module")
def hooks() -> Iterator[Receiver]:
    """The webhook receiver both engines deliver to (``/traced``, ``/untraced``)."""
    receiver = Receiver()
    with RunningReceiver(receiver):
        yield receiver


def engine_config(port: int, oauth: OAuthServer, client: OAuthClient, hook_url: str) -> dict:
    config = base_config(port, secrets.token_urlsafe(32))
    hooli = oidc_provider_entry(oauth, id="hooli", client_id=client.client_id, client_secret="hooli-secret")
    hooli["oauth2"]["authorize_request"]["params"]["scope"] = "openid {{scopes}} {{existing_scopes}}"
    config["auth"]["providers"] = [hooli]
    config["tools"] = {"toolkits": [HOOLI], "directors": []}
    hook = {"id": "completions", "url": hook_url, "secret": SECRET, "events": ["authorization.completed"]}
    config["webhooks"] = {"allow_private_targets": True, "endpoints": [hook]}
    return config


# One engine at a time (per class): two on one NATS would answer each other's requests.
@pytest.fixture(scope="class")
def traced(tmp_path_factory, nats_url, redis_url, oauth, client, collector, hooks) -> Iterator[Engine]:
    env = {"OTEL_EXPORTER_OTLP_ENDPOINT": collector.endpoint, "OTEL_BSP_SCHEDULE_DELAY": "100"}
    config = engine_config(PORTS["traced"], oauth, client, hooks.url("/traced"))
    with running_engine(
        tmp_path_factory.mktemp("traced"),
        nats_url=nats_url,
        redis_url=redis_url,
        config=config,
        extra_env=env,
    ) as engine:
        yield engine


@pytest.fixture(scope="class")
def untraced(tmp_path_factory, nats_url, redis_url, oauth, client, hooks) -> Iterator[Engine]:
    config = engine_config(PORTS["untraced"], oauth, client, hooks.url("/untraced"))
    with running_engine(
        tmp_path_factory.mktemp("untraced"), nats_url=nats_url, redis_url=redis_url, config=config
    ) as engine:
        yield engine


async def authorize(engine: Engine, user: str) -> str:
    """Start an authorization, consent, see it completed; its id."""
    pending = await start(engine, user, provider="hooli", scopes=SCOPES)
    assert pending["status"] == "pending"
    page = await approve(engine, pending["url"], login=user)
    assert page.status_code == 200, page.text
    assert (await status(engine, pending["id"])).json()["status"] == "completed"
    return str(pending["id"])


async def delivered(hooks: Receiver, path: str, authorization_id: str) -> Received:
    """The receiver's request that brought the ``authorization.completed`` of ``authorization_id``."""

    def about_it() -> list[Received]:
        return [
            r for r in hooks.on(path) if json.loads(r.body)["data"]["authorization_id"] == authorization_id
        ]

    await until(lambda: bool(about_it()), what=f"the webhook of {authorization_id}")
    (request,) = about_it()
    return request


def one(spans: list[ExportedSpan], service: str, name: str) -> ExportedSpan:
    found = [s for s in spans if s.service == service and s.name == name]
    assert len(found) == 1, f"{service} {name}: {found}"
    return found[0]


def calls_to(url: str) -> Callable[[ExportedSpan], bool]:
    def is_call(span: ExportedSpan) -> bool:
        full = span.attributes.get("url.full") or span.attributes.get("http.url") or ""
        return span.kind == "client" and str(full).startswith(url)

    return is_call


def ancestors(span: ExportedSpan, spans: list[ExportedSpan]) -> list[ExportedSpan]:
    by_id = {s.span_id: s for s in spans}
    chain = []
    while span.parent_id in by_id:
        span = by_id[span.parent_id]
        chain.append(span)
    return chain


def callback_trace(spans: list[ExportedSpan]) -> str | None:
    """The trace of the callback's NATS hop, once the gateway's and the authorizer's halves arrived."""
    hops = [s for s in spans if s.name == "process vk.auth.callback" and s.service == "authorizer"]
    if not hops:
        return None
    trace = [s for s in spans if s.trace_id == hops[-1].trace_id]
    services = {s.service for s in trace}
    roots = [s for s in trace if s.kind == "server" and s.service == "gateway" and not s.parent_id]
    return hops[-1].trace_id if {"gateway", "authorizer"} <= services and roots else None


def resumed_span(spans: list[ExportedSpan], authorization_id: str) -> ExportedSpan | None:
    """The authorizer's span of the callback's work for one authorization, once its trace (the
    start's, up to the token call) and the callback's own trace it links to have arrived."""
    found = [
        s
        for s in spans
        if s.name == "authorization.callback"
        and s.attributes.get("valetkey.authorization_id") == authorization_id
    ]
    if len(found) != 1 or len(found[0].links) != 1:
        return None
    (resumed,), ((linked_trace, _),) = found, found[0].links
    started = {(s.service, s.name) for s in spans if s.trace_id == resumed.trace_id}
    linked = {(s.service, s.name) for s in spans if s.trace_id == linked_trace}
    exchanged = any(
        s.trace_id == resumed.trace_id and s.kind == "client" and s.service == "authorizer" for s in spans
    )
    wanted = {("gateway", "POST /v1/auth/authorize"), ("authorizer", "process vk.auth.start")}
    callback = {("gateway", "GET /oauth/callback"), ("authorizer", "process vk.auth.callback")}
    return resumed if wanted <= started and callback <= linked and exchanged else None


class TestWithAnOtlpEndpoint:
    async def test_an_authorization_is_one_trace_from_the_start_request_to_the_token_endpoint(
        self, traced, collector, oauth
    ):
        authorization_id = await authorize(traced, new_user("traced"))
        spans = collector.wait_for(lambda got: resumed_span(got, authorization_id) is not None)
        resumed = resumed_span(spans, authorization_id)
        trace = [s for s in spans if s.trace_id == resumed.trace_id]

        request = one(trace, "gateway", "POST /v1/auth/authorize")  # named after its route
        sent = one(trace, "gateway", "send vk.auth.start")
        served = one(trace, "authorizer", "process vk.auth.start")
        (exchange,) = [s for s in trace if calls_to(oauth.token_endpoint)(s)]
        (user_info,) = [s for s in trace if calls_to(oauth.userinfo_endpoint)(s)]
        assert (request.kind, request.parent_id, request.attributes["http.route"]) == (
            "server",
            "",
            "/v1/auth/authorize",
        )
        assert (sent.kind, served.kind) == ("client", "server")
        assert served.parent_id == sent.span_id  # across the NATS hop, in the message's headers
        assert request in ancestors(sent, trace)
        assert resumed.parent_id == served.span_id  # the start's context, kept in the record
        assert resumed in ancestors(exchange, trace) and resumed in ancestors(user_info, trace)
        assert exchange.service == user_info.service == "authorizer"
        writes = [s for s in trace if s.service == "authorizer" and s.attributes.get("db.system") == "redis"]
        assert any(resumed in ancestors(w, trace) for w in writes), "the token write is part of the trace"

    async def test_the_callback_request_is_its_own_trace_that_the_authorizations_work_links_to(
        self, traced, collector, oauth
    ):
        authorization_id = await authorize(traced, new_user("linked"))
        spans = collector.wait_for(lambda got: resumed_span(got, authorization_id) is not None)
        ((trace_id, span_id),) = resumed_span(spans, authorization_id).links
        trace = [s for s in spans if s.trace_id == trace_id]

        request = one(trace, "gateway", "GET /oauth/callback")
        sent = one(trace, "gateway", "send vk.auth.callback")
        served = one(trace, "authorizer", "process vk.auth.callback")
        assert (request.kind, request.parent_id, request.attributes["http.route"]) == (
            "server",
            "",
            "/oauth/callback",
        )
        assert served.span_id == span_id and served.parent_id == sent.span_id
        assert request in ancestors(sent, trace)
        assert not [s for s in trace if calls_to(oauth.issuer)(s)], (
            "the provider calls are in the authorization's trace"
        )

    async def test_the_completed_event_is_published_inside_the_authorizations_trace(self, traced, collector):
        authorization_id = await authorize(traced, new_user("event"))

        def published(got: list[ExportedSpan]) -> list[ExportedSpan]:
            resumed = resumed_span(got, authorization_id)
            return [
                s
                for s in got
                if resumed is not None
                and s.trace_id == resumed.trace_id
                and s.name == "publish vk.events.authorization.completed"
            ]

        spans = collector.wait_for(lambda got: bool(published(got)))
        events = published(spans)  # a relay round racing the publish on commit may add one
        resumed = resumed_span(spans, authorization_id)
        trace = [s for s in spans if s.trace_id == resumed.trace_id]
        for event in events:
            assert event.kind == "producer" and event.service == "authorizer"
            assert resumed in ancestors(event, trace)

    async def test_the_webhook_delivery_of_the_completed_event_and_its_post_are_in_the_authorizations_trace(
        self, traced, collector, hooks
    ):
        authorization_id = await authorize(traced, new_user("hooked"))
        request = await delivered(hooks, "/traced", authorization_id)

        def delivery(got: list[ExportedSpan]) -> list[ExportedSpan]:
            resumed = resumed_span(got, authorization_id)
            return [
                s
                for s in got
                if resumed is not None and s.trace_id == resumed.trace_id and s.service == "webhooks"
            ]

        wanted = {"process vk.events.authorization.completed", "webhook.deliver", "POST"}
        spans = collector.wait_for(lambda got: wanted <= {s.name for s in delivery(got)})
        resumed = resumed_span(spans, authorization_id)
        trace = [s for s in spans if s.trace_id == resumed.trace_id]
        post = one(trace, "webhooks", "POST")
        deliver = one(trace, "webhooks", "webhook.deliver")
        consumed = one(trace, "webhooks", "process vk.events.authorization.completed")
        published = [s for s in trace if s.name == "publish vk.events.authorization.completed"]
        assert consumed.kind == "consumer" and consumed.parent_id in {p.span_id for p in published}
        assert resumed in ancestors(consumed, trace)  # across JetStream, in the event's headers
        assert deliver.parent_id == consumed.span_id
        assert (post.kind, post.parent_id) == ("client", deliver.span_id)
        assert deliver.attributes["valetkey.event_type"] == "authorization.completed"
        assert deliver.attributes["valetkey.webhook.endpoint_id"] == "completions"
        # the receiver is told: it can join its own work to the trace
        version, trace_id, parent_id, flags = request.headers["traceparent"].split("-")
        assert (version, trace_id, parent_id) == ("00", resumed.trace_id, post.span_id)
        assert int(flags, 16) & 1, "sampled"
        assert request.verifies_with(SECRET)
        shown = " ".join(str(v) for s in trace if s.service == "webhooks" for v in s.attributes.values())
        assert "/traced" not in shown, "a webhook URL's path may be its secret"
        assert SECRET not in shown and request.headers["webhook-signature"] not in shown

    async def test_the_gateways_log_line_for_the_callback_carries_its_trace_id(self, traced, collector):
        user = new_user("logged")
        await authorize(traced, user)
        lines = [json.loads(line) for line in traced.log_path("gateway").read_text().splitlines()]
        callbacks = [
            line
            for line in lines
            if line.get("event") == "http.request" and line["path"] == "/oauth/callback"
        ]
        logged = {line.get("trace_id") for line in callbacks}
        assert callbacks and None not in logged

        def hops(got: list[ExportedSpan]) -> set[str]:
            return {s.trace_id for s in got if s.name == "process vk.auth.callback"}

        collector.wait_for(lambda got: logged <= hops(got))

    async def test_the_callbacks_code_and_state_are_not_in_any_span(self, traced, collector):
        user = new_user("secret")
        await authorize(traced, user)
        spans = collector.wait_for(lambda got: callback_trace(got) is not None)
        for span in spans:
            for value in span.attributes.values():
                assert "code=" not in str(value) or "[REDACTED]" in str(value), (span.name, value)

    async def test_a_tool_execution_is_one_trace_from_the_gateway_through_the_executor_to_the_tool(
        self, traced, collector
    ):
        user = new_user("tool")
        await authorize(traced, user)
        body = {"tool_name": "Hooli.ReticulateSplines", "input": {"num_splines": 3}, "user_id": user}
        async with httpx.AsyncClient(trust_env=False, timeout=30) as http:
            response = await http.post(
                f"{traced.base_url}/v1/tools/execute", headers=traced.headers, json=body
            )
        assert response.status_code == 200 and response.json()["success"], response.text

        def tool_span(got: list[ExportedSpan]) -> ExportedSpan | None:
            return next((s for s in got if s.name.startswith("execute_tool Hooli.ReticulateSplines")), None)

        spans = collector.wait_for(
            lambda got: (
                (tool := tool_span(got)) is not None
                and any(
                    s.trace_id == tool.trace_id and s.service == "gateway" and not s.parent_id for s in got
                )
            )
        )
        tool = tool_span(spans)
        trace = [s for s in spans if s.trace_id == tool.trace_id]
        request = one(trace, "gateway", "POST /v1/tools/execute")
        sent = one(trace, "gateway", "send vk.tools.execute")
        assert request in ancestors(sent, trace) and not request.parent_id
        served = one(trace, "executor", "process vk.tools.execute")
        assert served.parent_id == sent.span_id
        assert served in ancestors(tool, trace)
        assert tool.service == "executor"
        assert any(s.service == "executor" and s.attributes.get("db.system") == "redis" for s in trace)


class TestWithoutOtelSettings:
    async def test_an_authorization_and_a_tool_run_work_and_no_line_carries_a_trace_id(self, untraced, hooks):
        user = new_user("untraced")
        authorization_id = await authorize(untraced, user)
        request = await delivered(hooks, "/untraced", authorization_id)
        assert request.verifies_with(SECRET)
        assert "traceparent" not in request.headers and "tracestate" not in request.headers
        body = {"tool_name": "Hooli.ReticulateSplines", "input": {"num_splines": 1}, "user_id": user}
        async with httpx.AsyncClient(trust_env=False, timeout=30) as http:
            response = await http.post(
                f"{untraced.base_url}/v1/tools/execute", headers=untraced.headers, json=body
            )
        assert response.status_code == 200 and response.json()["success"], response.text
        logs = untraced.all_logs()
        assert '"event": "http.request"' in logs
        assert "trace_id" not in logs
