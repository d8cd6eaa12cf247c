"""The stacks the gateway benchmarks run against, and the flows they drive through them.

``oauth_stack``: embedded NATS and Valkey, the real OAuth server (oidc-provider) and the engine's
services as processes, each stack its own. ``complete_authorization`` runs one full flow through
the consent page; ``hot_reads`` are the two reads agents make hardest. Used by ``bench gateway``,
``bench capacity``, ``bench replicas``, ``bench rate_limit``, ``bench zero_trust`` and
``bench completion``.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import httpx

from bench.loadgen import Target
from tests.support.browser import consent
from tests.support.engine import Engine, base_config, make_engine
from tests.support.oauth_server import OAuthClient, start_oauth_server
from tests.support.providers import oidc_provider_entry
from tests.support.servers import local_server
from tools.launcher import embedded

USER = "bench-user@example.com"
# What the benchmark toolkit's tool needs, plus openid so the user-info call succeeds.
SCOPES = ["openid", "scope1", "scope2"]


@contextlib.contextmanager
def otel_sink(enabled: bool, sample: float | None = None) -> Iterator[dict[str, str]]:
    """With ``enabled``, a counting OTLP/HTTP sink in its own process and the engine's env to reach it
    (with ``sample``, the share of new traces recorded)."""
    if not enabled:
        yield {}
        return
    port = embedded.free_port()
    sink = subprocess.Popen([sys.executable, "-m", "tests.support.otlp_collector", str(port)])
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            with contextlib.suppress(httpx.HTTPError):
                httpx.get(f"http://127.0.0.1:{port}/", timeout=1)
                break
            time.sleep(0.1)
        env = {"OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{port}"}
        if sample is not None:
            env |= {"OTEL_TRACES_SAMPLER": "parentbased_traceidratio", "OTEL_TRACES_SAMPLER_ARG": str(sample)}
        yield env
    finally:
        sink.terminate()
        sink.wait(10)


@contextlib.contextmanager
def oauth_stack(
    tmp: Path,
    log_level: str = "INFO",
    redis_fsync: bool = False,
    otel_env: dict[str, str] | None = None,
    metrics: bool = True,
    api: dict[str, Any] | None = None,
    provider_proxy: Callable[[str], contextlib.AbstractContextManager[str]] | None = None,
) -> Iterator[tuple[Engine, Any]]:
    """NATS, Valkey, the OAuth server and the engine, all of its own; ``metrics=False`` turns
    the services' request metrics off (``VALETKEY_METRICS``); ``api`` adds to engine.yaml's api;
    ``provider_proxy`` (given the OAuth server's origin, yields another origin) is put in front of
    the provider's token and user-info endpoints."""
    tmp.mkdir(parents=True, exist_ok=True)
    switches = {} if metrics else {"VALETKEY_METRICS": "false"}
    with (
        local_server("nats", tmp / "nats") as nats,
        local_server("redis", tmp / "redis", persistent=redis_fsync) as redis,
    ):
        port = embedded.free_port()
        redirect = f"http://127.0.0.1:{port}/oauth/callback"
        client = OAuthClient("bench-client", [redirect], client_secret="bench-secret")
        (tmp / "oauth").mkdir()
        with (
            start_oauth_server(tmp / "oauth", clients=[client]) as oauth,
            contextlib.ExitStack() as proxies,
        ):
            config = base_config(port, "bench-root-key-" + "x" * 24)
            entry = oidc_provider_entry(
                oauth, id="hooli", client_id="bench-client", client_secret="bench-secret"
            )
            if provider_proxy is not None:
                _through(entry, proxies.enter_context(provider_proxy(_origin(oauth.issuer))))
            config["auth"]["providers"] = [entry]
            config["tools"]["toolkits"] = ["tests.support.toolkits.hooli"]
            config["api"] |= api or {}
            engine = make_engine(
                tmp / "engine",
                check_responses=False,
                nats_url=nats.url,
                redis_url=redis.url,
                config=config,
                # INFO is the engine's default: one log line per request and per handled message.
                extra_env={"VALETKEY_LOG_LEVEL": log_level, **(otel_env or {}), **switches},
            )
            engine.start()
            try:
                yield engine, oauth
            finally:
                engine.stop()


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def _through(entry: dict[str, Any], proxy: str) -> None:
    """The provider entry's code exchange and user-info call sent to ``proxy`` (an origin)."""
    oauth2 = entry["oauth2"]
    for request in ("token_request", "user_info_request"):
        endpoint = oauth2[request]["endpoint"]
        oauth2[request]["endpoint"] = proxy + endpoint[len(_origin(endpoint)) :]


async def _start(http: httpx.AsyncClient, engine: Engine, user: str) -> dict[str, Any]:
    body = {"user_id": user, "auth_requirement": {"id": "hooli", "oauth2": {"scopes": SCOPES}}}
    response = await http.post(f"{engine.base_url}/v1/auth/authorize", json=body, headers=engine.headers)
    response.raise_for_status()
    result: dict[str, Any] = response.json()
    return result


async def _long_poll(timed: aiohttp.ClientSession, engine: Engine, auth_id: str) -> dict[str, Any]:
    url, params = f"{engine.base_url}/v1/auth/status", {"id": auth_id, "wait": "59"}
    async with timed.get(url, params=params, headers=engine.headers) as answer:
        body: dict[str, Any] = await answer.json()
        return body


async def _answered_at(
    timed: aiohttp.ClientSession, engine: Engine, auth_id: str
) -> tuple[dict[str, Any], float]:
    body = await _long_poll(timed, engine, auth_id)
    return body, time.perf_counter()


async def complete_authorization(
    http: httpx.AsyncClient, timed: aiohttp.ClientSession, engine: Engine, user: str
) -> tuple[str, float]:
    """One full flow; returns (authorization id, seconds from callback sent to long-poll answered).

    The timed part (the callback and the long-poll) goes through aiohttp, as the load
    generator does: httpx costs about a millisecond of client CPU per request, which would
    be counted in the latency measured here.
    """
    auth_id, callback = await consented(http, engine, user)
    return auth_id, await timed_callback(timed, engine, auth_id, callback)


async def consented(http: httpx.AsyncClient, engine: Engine, user: str) -> tuple[str, str]:
    """A flow started and consented to at the provider: (authorization id, callback URL)."""
    auth = await _start(http, engine, user)
    callback = await consent(auth["url"], login=user, stop_at_prefix=engine.redirect_uri)
    return auth["id"], str(callback)


async def timed_callback(
    timed: aiohttp.ClientSession,
    engine: Engine,
    auth_id: str,
    callback: str,
    answered: list[float] | None = None,
) -> float:
    """The timed part of a flow: seconds from its callback sent to its long-poll answered and its
    callback page read. ``answered`` gets the seconds to the long-poll's answer alone (the
    page may come after it)."""
    waiter = asyncio.create_task(_answered_at(timed, engine, auth_id))
    await asyncio.sleep(0.05)  # let the long-poll register before the callback arrives
    # This process's own garbage collections (its heap holds every flow's browser work) took
    # up to 30 ms here; they are the load generator's, not the engine's, so none runs inside
    # the timed part.
    gc.disable()
    try:
        sent = time.perf_counter()
        async with timed.get(callback, allow_redirects=False) as page:
            await page.read()
        answer, at = await waiter
        elapsed = time.perf_counter() - sent
        if answered is not None:
            answered.append(at - sent)
    finally:
        gc.enable()
    if answer.get("status") != "completed":
        logs = "\n".join(engine.tail(s, 15) for s in ("gateway", "authorizer"))
        raise RuntimeError(f"flow did not complete: {answer}\n{logs}")
    return elapsed


def hot_reads(engine: Engine, auth_id: str, suffix: str = "") -> dict[str, Target]:
    headers = {**engine.headers, "Content-Type": "application/json"}
    return {
        f"GET /v1/auth/status (completed){suffix}": Target(
            "GET", f"{engine.base_url}/v1/auth/status?id={auth_id}", headers
        ),
        f"POST /v1/tools/authorize (token held){suffix}": Target(
            "POST",
            f"{engine.base_url}/v1/tools/authorize",
            headers,
            {"tool_name": "Hooli.ReticulateSplines", "user_id": USER},
        ),
    }
