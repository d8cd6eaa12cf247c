"""The services serve Prometheus metrics: HTTP requests by route template, NATS requests by
subject, gauges, and event counters that move by exactly what happened (an authorization, a
tool run, a refresh the provider refused for good, a scheduled refresh and the webhooks its
event caused).

Against a running engine over real HTTP; the text is parsed with prometheus_client's own
parser, as Prometheus would read it.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from redis.asyncio import Redis

from shared.bus import subjects
from shared.runtime.crypto import Cipher, RootKey
from shared.runtime.redisio import create_redis
from shared.tokens.model import RefreshPolicy, connection_id_of
from shared.tokens.store import TokenStore
from tests.e2e.webhook_support import FAST_RETRIES, Receiver, RunningReceiver, always, endpoint, until
from tests.support.auth_flows import approve, start, status
from tests.support.engine import Engine, base_config, make_engine, running_engine
from tests.support.oauth_grants import real_grant, token_from
from tests.support.oauth_server import OAuthClient, start_oauth_server
from tests.support.providers import oidc_provider_entry
from tools.launcher import embedded

pytestmark = pytest.mark.e2e

USER = "alice-metrics@example.com"


def _samples(text: str, name: str) -> dict[tuple[tuple[str, str], ...], float]:
    return {
        tuple(sorted(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == name
    }


@pytest.fixture(scope="module")
def metrics_text(tmp_path_factory, nats_url, redis_url) -> str:
    home = tmp_path_factory.mktemp("metrics")
    with running_engine(home, nats_url=nats_url, redis_url=redis_url) as engine:
        http = httpx.Client(base_url=engine.base_url, headers=engine.headers, timeout=30)
        assert http.get("/v1/tools", params={"user_id": USER}).status_code == 200
        assert http.get("/v1/auth/status", params={"id": "ac_metrics_unknown"}).status_code == 404
        assert http.get(f"/v1/nothing/here/{USER}").status_code == 404
        engine.health()
        response = http.get("/metrics")
        http.close()
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    return response.text


def test_http_requests_are_counted_by_route_template_method_and_status(metrics_text):
    counts = _samples(metrics_text, "valetkey_http_requests_total")
    assert counts[(("method", "GET"), ("route", "/v1/tools"), ("status", "200"))] >= 1
    # the fast lane answers this one beneath FastAPI's router; it is still counted by its route
    assert counts[(("method", "GET"), ("route", "/v1/auth/status"), ("status", "404"))] >= 1
    assert counts[(("method", "GET"), ("route", "unmatched"), ("status", "404"))] >= 1


def test_request_latency_is_a_histogram_per_route(metrics_text):
    buckets = _samples(metrics_text, "valetkey_http_request_duration_seconds_bucket")
    tools = {labels: v for labels, v in buckets.items() if ("route", "/v1/tools") in labels}
    assert tools and max(tools.values()) >= 1


def test_nats_requests_the_gateway_answers_are_counted_by_subject_and_outcome(metrics_text):
    counts = _samples(metrics_text, "valetkey_nats_requests_total")
    assert counts[(("outcome", "ok"), ("subject", "vk.health.gateway"))] >= 1


def test_no_user_id_reaches_a_label(metrics_text):
    assert USER not in metrics_text


class TestProbes:
    def test_a_services_ops_port_serves_metrics_liveness_and_readiness_that_follows_redis(
        self, tmp_path, nats_url, own_redis
    ):
        ops_port = embedded.free_port()
        with running_engine(tmp_path, nats_url=nats_url, redis_url=own_redis.url) as engine:
            engine.env["VALETKEY_OPS_PORT"] = str(ops_port)
            engine.restart_service("token_refresher")
            del engine.env["VALETKEY_OPS_PORT"]
            ops = httpx.Client(base_url=f"http://127.0.0.1:{ops_port}", timeout=10)
            engine.health()
            ready, live, metrics = ops.get("/readyz"), ops.get("/livez"), ops.get("/metrics").text
            gateway_ready = httpx.get(f"{engine.base_url}/readyz", timeout=10)
            own_redis.kill()
            try:
                outage_ready, outage_live = ops.get("/readyz"), ops.get("/livez")
            finally:
                own_redis.start()
            ops.close()
        assert ready.status_code == 200 and ready.json()["checks"] == {
            "nats": True,
            "redis": True,
            "subjects": True,
        }
        assert live.status_code == 200
        assert 'valetkey_nats_requests_total{outcome="ok",subject="vk.health.token_refresher"}' in metrics
        assert gateway_ready.status_code == 200
        assert outage_ready.status_code == 503 and outage_ready.json()["checks"]["redis"] is False
        assert outage_live.status_code == 200, "an outage of a dependency must not get the pod restarted"


class TestGauges:
    def test_each_services_metrics_carry_its_gauges_and_a_dead_worker_reads_zero(
        self, tmp_path, nats_url, redis_url
    ):
        config = base_config(embedded.free_port(), "g" * 32)
        dead = {"id": "gone", "enabled": True, "http": {"uri": f"http://127.0.0.1:{embedded.free_port()}"}}
        dead["http"].update(secret="s" * 32, timeout=1, retry=0)
        config["tools"]["directors"] = [{"id": "default", "workers": [dead]}]
        texts: dict[str, str] = {}
        with running_engine(tmp_path, nats_url=nats_url, redis_url=redis_url, config=config) as engine:
            for service in ("token_refresher", "webhooks", "executor"):
                port = embedded.free_port()
                engine.env["VALETKEY_OPS_PORT"] = str(port)
                engine.restart_service(service)
                del engine.env["VALETKEY_OPS_PORT"]
                texts[service] = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=10).text
        refresher, webhooks, executor = texts["token_refresher"], texts["webhooks"], texts["executor"]
        for name in ("valetkey_refresh_schedule_depth", "valetkey_refresh_schedule_lag_seconds"):
            assert _samples(refresher, name)[()] >= 0
        for name in ("valetkey_outbox_depth", "valetkey_outbox_relay_lag_seconds"):
            assert _samples(refresher, name)[()] >= 0 and _samples(executor, name)[()] >= 0
        assert _samples(webhooks, "valetkey_webhook_queue_depth")[()] >= 0
        assert _samples(webhooks, "valetkey_webhook_dead_letters")[()] >= 0
        assert _samples(executor, "valetkey_worker_up") == {(("worker", "gone"),): 0.0}


class TestReauthorizationGauge:
    async def test_a_grant_the_provider_refuses_counts_once_until_the_user_consents_again(
        self, tmp_path, nats_url, redis_url
    ):
        config = base_config(embedded.free_port(), secrets.token_urlsafe(32))
        callback = f"http://127.0.0.1:{config['api']['port']}/oauth/callback"
        client = OAuthClient("vk-gauge", [callback], client_secret="vk-gauge-secret")
        with start_oauth_server(tmp_path, clients=[client]) as oauth:
            config["auth"]["providers"] = [
                oidc_provider_entry(oauth, id="oidc", client_id="vk-gauge", client_secret="vk-gauge-secret")
            ]
            fast = {"VALETKEY_REFRESHER_POLL_SECONDS": "0.2"}
            with running_engine(
                tmp_path / "engine", nats_url=nats_url, redis_url=redis_url, config=config, extra_env=fast
            ) as engine:
                ops = _with_ops_port(engine, "token_refresher")  # it samples the gauge
                grant = await real_grant(oauth, client, login="alice", redirect_uri=engine.redirect_uri)
                async with httpx.AsyncClient(trust_env=False) as http:
                    revoked = await http.post(
                        oauth.revocation_endpoint,
                        data={"token": grant["refresh_token"], "token_type_hint": "refresh_token"},
                        auth=("vk-gauge", "vk-gauge-secret"),
                    )
                assert revoked.status_code == 200
                store, redis = _store_of(engine)
                await store.put("alice", "oidc", token_from(grant, expires_in=-5))  # due now
                await _until_status(store, connection_id_of("alice", "oidc"), "reauthorization_required")
                dead, counted = _gauge(ops), _scrape(ops)

                pending = await start(engine, "alice", provider="oidc", scopes=["openid"])
                await approve(engine, pending["url"], login="alice")
                completed = (await status(engine, pending["id"])).json()["status"]
                again = _gauge(ops)
                await redis.aclose()
        assert dead == 1
        assert completed == "completed" and again == 0
        failed = (("class", "reauthorize"), ("provider", "oidc"))
        assert _samples(counted, "valetkey_refresh_failures_total") == {failed: 1.0}
        assert _samples(counted, "valetkey_refreshes_total") == {
            (("outcome", "failed"), ("provider", "oidc")): 1.0
        }


class TestEventCounters:
    async def test_one_authorization_and_one_tool_run_move_their_counters_by_exactly_one(
        self, tmp_path, nats_url, redis_url
    ):
        config = base_config(embedded.free_port(), secrets.token_urlsafe(32))
        callback = f"http://127.0.0.1:{config['api']['port']}/oauth/callback"
        client = OAuthClient("vk-counted", [callback], client_secret="vk-counted-secret")
        with start_oauth_server(tmp_path, clients=[client]) as oauth:
            hooli = oidc_provider_entry(
                oauth, id="hooli", client_id="vk-counted", client_secret="vk-counted-secret"
            )
            hooli["oauth2"]["authorize_request"]["params"]["scope"] = "openid {{scopes}} {{existing_scopes}}"
            config["auth"]["providers"] = [hooli]
            config["tools"] = {"toolkits": ["tests.support.toolkits.hooli"], "directors": []}
            with running_engine(
                tmp_path / "engine", nats_url=nats_url, redis_url=redis_url, config=config
            ) as engine:
                authorizer = _with_ops_port(engine, "authorizer")
                executor = _with_ops_port(engine, "executor")
                pending = await start(engine, "alice", provider="hooli", scopes=["scope1", "scope2"])
                await approve(engine, pending["url"], login="alice")
                completed = (await status(engine, pending["id"])).json()["status"]
                body = {
                    "tool_name": "Hooli.ReticulateSplines",
                    "input": {"num_splines": 2},
                    "user_id": "alice",
                }
                async with httpx.AsyncClient(trust_env=False, timeout=30) as http:
                    ran = await http.post(
                        f"{engine.base_url}/v1/tools/execute", headers=engine.headers, json=body
                    )
                flows, runs = _scrape(authorizer), _scrape(executor)
        assert completed == "completed" and ran.json()["success"], ran.text
        hooli_label = (("provider", "hooli"),)
        assert _samples(flows, "valetkey_authorizations_started_total") == {hooli_label: 1.0}
        assert _samples(flows, "valetkey_authorizations_completed_total") == {hooli_label: 1.0}
        assert _samples(flows, "valetkey_authorizations_failed_total") == {}
        assert _samples(flows, "valetkey_authorization_completion_seconds_count") == {hooli_label: 1.0}
        executions = _samples(runs, "valetkey_tool_executions_total")
        assert list(executions.values()) == [1.0]
        (labels,) = executions
        assert dict(labels)["outcome"] == "success" and dict(labels)["source"] == "in_process"
        assert "ReticulateSplines" in dict(labels)["tool"]


@dataclass(frozen=True)
class Refreshed:
    """What one scheduled refresh came to: the refresher's and the webhooks service's /metrics
    once both settled, and the requests the receiver got for its event."""

    refresher: str
    webhooks: str
    took: int
    down: int


@pytest.fixture(scope="class")
async def refreshed(tmp_path_factory, nats_url, redis_url) -> AsyncIterator[Refreshed]:
    """A real grant stored to expire in 4 s: the refresher refreshes it 3 s later with no caller,
    and its ``token.refreshed`` goes to an endpoint answering 200 (``took``) and to one
    answering 500 until the 3 s retry window is spent (``down``)."""
    tmp = tmp_path_factory.mktemp("refreshed")
    receiver = Receiver(scripts={"/down": always(500)})
    config = base_config(embedded.free_port(), secrets.token_urlsafe(32))
    callback = f"http://127.0.0.1:{config['api']['port']}/oauth/callback"
    client = OAuthClient("vk-refreshed", [callback], client_secret="vk-refreshed-secret")
    hooks = [endpoint(name, receiver.url(f"/{name}"), ["token.refreshed"]) for name in ("took", "down")]
    config["webhooks"] = {**FAST_RETRIES, "endpoints": hooks}
    with RunningReceiver(receiver), start_oauth_server(tmp, clients=[client]) as oauth:
        config["auth"]["providers"] = [
            oidc_provider_entry(
                oauth, id="oidc", client_id=client.client_id, client_secret=client.client_secret
            )
        ]
        fast = {"VALETKEY_REFRESHER_POLL_SECONDS": "0.2"}
        with _engine_with_ops_ports(
            tmp / "engine",
            ("token_refresher", "webhooks"),
            nats_url=nats_url,
            redis_url=redis_url,
            config=config,
            extra_env=fast,
        ) as (engine, ops):
            grant = await real_grant(oauth, client, login="alice", redirect_uri=engine.redirect_uri)
            store, redis = _store_of(engine)
            await store.put("alice", "oidc", token_from(grant, expires_in=4))
            await redis.aclose()
            counted = await _settled(ops["token_refresher"], _refresh_counted)
            delivered = await _settled(ops["webhooks"], _deliveries_settled)
            yield Refreshed(counted, delivered, len(receiver.on("/took")), len(receiver.on("/down")))


class TestAScheduledRefreshAndItsWebhooks:
    def test_the_refresh_counts_once_as_refreshed_and_its_lateness_is_observed_once(self, refreshed):
        assert _samples(refreshed.refresher, "valetkey_refreshes_total") == {
            (("outcome", "refreshed"), ("provider", "oidc")): 1.0
        }
        assert _samples(refreshed.refresher, "valetkey_refresh_failures_total") == {}
        assert _samples(refreshed.refresher, "valetkey_refresh_lateness_seconds_count") == {(): 1.0}
        assert _samples(refreshed.refresher, "valetkey_refresh_lateness_seconds_sum")[()] >= 0

    def test_each_delivery_attempt_counts_once_by_endpoint_and_outcome(self, refreshed):
        assert refreshed.took == 1 and refreshed.down >= 2, "a retry within the window"
        assert _samples(refreshed.webhooks, "valetkey_webhook_deliveries_total") == {
            (("endpoint", "took"), ("outcome", "delivered")): 1.0,
            (("endpoint", "down"), ("outcome", "retrying")): refreshed.down - 1.0,
            (("endpoint", "down"), ("outcome", "dead_lettered")): 1.0,
        }

    def test_the_gauges_read_one_dead_letter_and_an_empty_retry_queue(self, refreshed):
        assert _samples(refreshed.webhooks, "valetkey_webhook_dead_letters") == {(): 1.0}
        assert _samples(refreshed.webhooks, "valetkey_webhook_queue_depth") == {(): 0.0}


def _refresh_counted(text: str) -> bool:
    return bool(_samples(text, "valetkey_refreshes_total"))


def _deliveries_settled(text: str) -> bool:
    """Both endpoints are done with the event: one delivered, the other dead-lettered and acked."""
    counts = _samples(text, "valetkey_webhook_deliveries_total")
    done = {
        (("endpoint", "took"), ("outcome", "delivered")),
        (("endpoint", "down"), ("outcome", "dead_lettered")),
    }
    return done <= set(counts) and _samples(text, "valetkey_webhook_queue_depth") == {(): 0.0}


async def _settled(url: str, done: Callable[[str], bool]) -> str:
    """The first scrape of ``url`` where ``done`` holds (30 s bound a failure only)."""
    scraped = [""]

    def scrape() -> bool:
        scraped[0] = _scrape(url)
        return done(scraped[0])

    await until(scrape, timeout=30, what=f"{url} to settle")
    return scraped[0]


@contextmanager
def _engine_with_ops_ports(
    home: Path, services: tuple[str, ...], **kwargs: Any
) -> Iterator[tuple[Engine, dict[str, str]]]:
    """Like ``running_engine``, with ``services`` started on an ops port each (no restart); their
    /metrics URLs by service."""
    engine = make_engine(home, **kwargs)
    ports = {service: embedded.free_port() for service in services}
    engine.write_config()
    try:
        for service in subjects.SERVICES:
            ops = {"VALETKEY_OPS_PORT": str(ports[service])} if service in ports else {}
            engine.start_service(service, extra_env=ops)
        engine.wait_healthy()
        yield engine, {service: f"http://127.0.0.1:{port}/metrics" for service, port in ports.items()}
    finally:
        engine.stop()
    assert not engine.refusals(), "NATS refused the services:\n" + "\n".join(engine.refusals())


def _with_ops_port(engine: Engine, service: str) -> str:
    """Restart ``service`` with an ops port (its counters start from zero); its /metrics URL."""
    port = embedded.free_port()
    engine.env["VALETKEY_OPS_PORT"] = str(port)
    engine.restart_service(service)
    del engine.env["VALETKEY_OPS_PORT"]
    return f"http://127.0.0.1:{port}/metrics"


def _store_of(engine: Engine) -> tuple[TokenStore, Redis]:
    redis = create_redis(engine.env["REDIS_URL"])
    root = engine.config["security"]["root_keys"][0]["value"]
    cipher = Cipher([RootKey("k1", root, default=True)])
    return TokenStore(redis, cipher, RefreshPolicy(), prefix=engine.env["VALETKEY_KEY_PREFIX"]), redis


async def _until_status(store: TokenStore, connection_id: str, wanted: str) -> None:
    deadline = time.monotonic() + 30  # bounds a failure only
    while (connection := await store.connection(connection_id)) is None or connection.status != wanted:
        assert time.monotonic() < deadline, f"connection still {connection}"
        await asyncio.sleep(0.1)


def _scrape(url: str) -> str:
    return httpx.get(url, timeout=10).text


def _gauge(url: str) -> float:
    return _samples(_scrape(url), "valetkey_connections_needing_reauthorization")[()]
