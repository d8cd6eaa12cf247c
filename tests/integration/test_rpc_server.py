"""The request-reply server on nats.micro, against a real nats-server."""

from __future__ import annotations

import asyncio
import json

import nats
import pytest
from pydantic import BaseModel, ConfigDict

from shared.bus import subjects
from shared.bus.flushing import reach_server
from shared.bus.rpc import RpcServer, add_health
from shared.bus.sealing import BusSeal, is_sealed
from shared.errors import NotFound
from shared.runtime.settings import RuntimeSettings
from tools.asyncapi import SERVICES, build_service
from tools.launcher import probe

pytestmark = pytest.mark.integration


class Echo(BaseModel):
    model_config = ConfigDict(extra="forbid")
    text: str


class Echoed(BaseModel):
    text: str


SEAL = BusSeal("the-test-bus-key-0123456789abcdef")


async def _call(nc: nats.NATS, subject: str, body: bytes, timeout: float = 5) -> dict:
    return json.loads(await _sealed_call(nc, subject, body, timeout=timeout))


async def _sealed_call(nc: nats.NATS, subject: str, body: bytes, timeout: float = 5) -> bytes:
    """``body`` sealed as RpcClient seals it (not for $SRV.* and health); the reply opened."""
    if subject.startswith("$SRV.") or not is_sealed(subject):
        return (await nc.request(subject, body, timeout=timeout)).data
    sealed = SEAL.seal_request(subject, body)
    reply = await nc.request(subject, sealed, timeout=timeout)
    return SEAL.open_reply(subject, BusSeal.request_id(sealed), reply.data)


async def _serving(nats_url: str, server: RpcServer) -> nats.NATS:
    nc = await nats.connect(nats_url)
    await server.start(nc)
    await reach_server(nc)
    return nc


class TestAnswers:
    async def test_a_valid_request_is_answered_with_the_use_cases_result(self, nats_url):
        server = RpcServer(seal=SEAL)

        async def echo(request: Echo) -> Echoed:
            return Echoed(text=request.text.upper())

        server.add("t.rpc.echo1", Echo, echo, queue="q")
        nc = await _serving(nats_url, server)
        try:
            assert await _call(nc, "t.rpc.echo1", b'{"text": "hi"}') == {"ok": True, "result": {"text": "HI"}}
        finally:
            await server.stop()
            await nc.close()

    async def test_an_invalid_request_and_a_raised_error_come_back_as_error_envelopes(self, nats_url):
        server = RpcServer(seal=SEAL)

        async def missing(_: Echo) -> Echoed:
            raise NotFound("no such thing")

        server.add("t.rpc.err", Echo, missing)
        nc = await _serving(nats_url, server)
        try:
            bad = await _call(nc, "t.rpc.err", b'{"nope": 1}')
            assert bad["ok"] is False and bad["error"]["name"] == "malformed_request"
            assert (await _call(nc, "t.rpc.err", b"not json"))["error"]["name"] == "malformed_request"
            gone = await _call(nc, "t.rpc.err", b'{"text": "x"}')
            assert (gone["error"]["name"], gone["error"]["message"]) == ("not_found", "no such thing")
        finally:
            await server.stop()
            await nc.close()


class TestConcurrency:
    async def test_requests_beyond_the_worker_limit_wait_for_a_slot_and_are_all_answered(self, nats_url):
        server = RpcServer(seal=SEAL)
        running, peak = 0, 0

        async def slow(request: Echo) -> Echoed:
            nonlocal running, peak
            running += 1
            peak = max(peak, running)
            await asyncio.sleep(0.05)
            running -= 1
            return Echoed(text=request.text)

        server.add("t.rpc.slow", Echo, slow, workers=3)
        nc = await _serving(nats_url, server)
        try:
            calls = [_call(nc, "t.rpc.slow", json.dumps({"text": str(i)}).encode()) for i in range(12)]
            replies = await asyncio.gather(*calls)
        finally:
            await server.stop()
            await nc.close()
        assert sorted(r["result"]["text"] for r in replies) == sorted(str(i) for i in range(12))
        assert peak == 3


class TestStopping:
    async def test_a_request_running_when_the_server_stops_is_still_answered(self, nats_url):
        server = RpcServer(seal=SEAL)
        started = asyncio.Event()

        async def slow(request: Echo) -> Echoed:
            started.set()
            await asyncio.sleep(0.3)
            return Echoed(text=request.text)

        server.add("t.rpc.drain", Echo, slow)
        nc = await _serving(nats_url, server)
        client = await nats.connect(nats_url)
        try:
            call = asyncio.create_task(_call(client, "t.rpc.drain", b'{"text": "late"}'))
            await started.wait()
            await server.stop(grace=5)
            assert (await call)["result"] == {"text": "late"}
            with pytest.raises(nats.errors.NoRespondersError):
                await client.request("t.rpc.drain", b'{"text": "after"}', timeout=1)
        finally:
            await client.close()
            await nc.close()

    async def test_requests_queued_behind_a_busy_endpoint_when_it_stops_are_answered_too(self, nats_url):
        server = RpcServer(seal=SEAL)
        started = asyncio.Event()

        async def slow(request: Echo) -> Echoed:
            started.set()
            await asyncio.sleep(0.2)
            return Echoed(text=request.text)

        server.add("t.rpc.queued", Echo, slow, workers=1)
        nc = await _serving(nats_url, server)
        client = await nats.connect(nats_url)
        try:
            bodies = [json.dumps({"text": str(i)}).encode() for i in range(3)]
            calls = [asyncio.create_task(_call(client, "t.rpc.queued", body)) for body in bodies]
            await reach_server(client)
            await started.wait()
            await server.stop(grace=5)
            replies = await asyncio.gather(*calls)
        finally:
            await client.close()
            await nc.close()
        assert sorted(r["result"]["text"] for r in replies) == ["0", "1", "2"]


class TestErrors:
    async def test_a_handler_that_crashes_is_answered_with_an_internal_error_envelope_and_micros_headers(
        self, nats_url
    ):
        server = RpcServer(seal=SEAL)

        async def crash(_: Echo) -> Echoed:
            raise RuntimeError("boom")

        server.add("t.rpc.crash", Echo, crash)
        nc = await _serving(nats_url, server)
        try:
            sealed = SEAL.seal_request("t.rpc.crash", b'{"text": "x"}')
            msg = await nc.request("t.rpc.crash", sealed, timeout=5)
        finally:
            await server.stop()
            await nc.close()
        error = {"name": "internal_error", "message": "internal error"}
        body = SEAL.open_reply("t.rpc.crash", BusSeal.request_id(sealed), msg.data)
        assert json.loads(body) == {"ok": False, "error": error}
        assert msg.headers == {"Nats-Service-Error": "internal_error", "Nats-Service-Error-Code": "500"}

    async def test_a_successful_reply_carries_no_error_headers(self, nats_url):
        server = RpcServer(seal=SEAL)

        async def echo(request: Echo) -> Echoed:
            return Echoed(text=request.text)

        server.add("t.rpc.plain", Echo, echo)
        nc = await _serving(nats_url, server)
        try:
            msg = await nc.request(
                "t.rpc.plain", SEAL.seal_request("t.rpc.plain", b'{"text": "x"}'), timeout=5
            )
        finally:
            await server.stop()
            await nc.close()
        assert not msg.headers


class TestDiscovery:
    @pytest.mark.parametrize("service", SERVICES)
    async def test_a_services_endpoints_answer_micros_ping_and_info(self, nats_url, service):
        server = build_service(service).rpc
        nc = await _serving(nats_url, server)
        try:
            ping = await _call(nc, f"$SRV.PING.{service}", b"")
            info = await _call(nc, f"$SRV.INFO.{service}", b"")
        finally:
            await server.stop()
            await nc.close()
        assert (ping["name"], ping["metadata"]) == (service, {"instance": "INSTANCE"})
        assert info["id"] == ping["id"]
        endpoints = {e["subject"]: e["queue_group"] for e in info["endpoints"]}
        assert set(endpoints) == {route.subject for route in server.routes}
        for route in server.routes:
            assert endpoints[route.subject] == (route.queue or info["id"]), route.subject
        assert endpoints[subjects.health_subject(service)] == f"{service}.health"

    async def test_the_pods_probe_is_answered_by_its_own_instance_only(self, nats_url):
        server = RpcServer(seal=SEAL)
        add_health(server, service="probed", instance="pod-1")
        nc = await _serving(nats_url, server)
        try:
            runtime = RuntimeSettings(nats_url=nats_url)
            assert await probe._probe("probed", "pod-1", runtime) is True
            assert await probe._probe("probed", "pod-2", runtime) is False
        finally:
            await server.stop()
            await nc.close()
