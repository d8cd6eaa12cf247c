"""Sealed request-reply (shared/bus/sealing.py) between RpcClient and RpcServer on a real nats-server."""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import AsyncIterator

import nats
import pytest
from nats.aio.msg import Msg
from pydantic import BaseModel, ConfigDict

from services.gateway.routes.health import ping
from shared.bus.flushing import reach_server
from shared.bus.messaging import RpcClient
from shared.bus.rpc import RpcServer, add_health
from shared.bus.sealing import BusSeal
from shared.errors import SealError
from shared.runtime.settings import RuntimeSettings
from tests.support.bus_capture import every_message
from tools.launcher import probe

pytestmark = pytest.mark.integration

SEAL = BusSeal("the-test-bus-key-0123456789abcdef")
SECRET = "gho_the_secret_in_transit_0001"


class Ask(BaseModel):
    model_config = ConfigDict(extra="forbid")
    secret: str


class Told(BaseModel):
    token: str


@contextlib.asynccontextmanager
async def serving(nats_url: str, *subjects: str) -> AsyncIterator[tuple[nats.NATS, list[str]]]:
    """An RpcServer answering ``subjects`` with a token; the list records the requests it ran."""
    ran: list[str] = []
    server = RpcServer(seal=SEAL)
    for subject in subjects:

        async def tell(request: Ask, subject: str = subject) -> Told:
            ran.append(subject)
            return Told(token=f"{request.secret}-reply")

        server.add(subject, Ask, tell, queue="q")
    nc = await nats.connect(nats_url)
    await server.start(nc)
    await reach_server(nc)
    try:
        yield nc, ran
    finally:
        await server.stop()
        await nc.close()


async def test_a_listener_on_every_subject_sees_neither_the_request_nor_the_reply_in_clear(nats_url):
    async with every_message(nats_url) as seen, serving(nats_url, "t.seal.ask") as (nc, _):
        told = await RpcClient(nc, seal=SEAL).call("t.seal.ask", Ask(secret=SECRET), Told)
        await asyncio.sleep(0.1)  # let the capture's own connection read the last frames
    assert told.token == f"{SECRET}-reply"
    payloads = [m.data for m in seen if m.subject == "t.seal.ask" or m.subject.startswith("_INBOX")]
    assert len(payloads) >= 2, [m.subject for m in seen]
    assert not [p for p in payloads if SECRET.encode() in p]


async def test_an_unsealed_request_is_refused_with_a_clear_reason_and_never_runs(nats_url):
    async with serving(nats_url, "t.seal.plain") as (nc, ran):
        msg = await nc.request("t.seal.plain", b'{"secret": "x"}', timeout=5)
    assert ran == []
    reason = msg.headers["Nats-Service-Error"]
    assert reason.startswith("bus_payload_refused: the request on t.seal.plain is not sealed")
    assert b"x" not in msg.data


async def test_a_sealed_request_replayed_on_another_subject_is_refused_and_never_runs(nats_url):
    async with (
        every_message(nats_url) as seen,
        serving(nats_url, "t.seal.status", "t.seal.delete") as (nc, ran),
    ):
        await RpcClient(nc, seal=SEAL).call("t.seal.status", Ask(secret="s"), Told)
        await asyncio.sleep(0.1)
        captured = next(m.data for m in seen if m.subject == "t.seal.status")
        with pytest.raises(SealError, match=re.escape("t.seal.delete: the service refused the request")):
            await _replay(nc, "t.seal.delete", captured)
    assert ran == ["t.seal.status"]


async def _replay(nc: nats.NATS, subject: str, payload: bytes) -> None:
    """Publish captured bytes on ``subject`` and read the answer as RpcClient does."""
    client = RpcClient(nc, seal=SEAL)
    reply = await nc.request(subject, payload, timeout=5)
    client._open(subject, payload, reply)


async def test_a_tampered_request_is_refused(nats_url):
    async with serving(nats_url, "t.seal.tamper") as (nc, ran):
        sealed = bytearray(SEAL.seal_request("t.seal.tamper", b'{"secret": "x"}'))
        sealed[-3] ^= 0xFF
        msg = await nc.request("t.seal.tamper", bytes(sealed), timeout=5)
    assert ran == []
    assert "does not open under this service's bus key" in msg.headers["Nats-Service-Error"]


async def test_a_caller_with_another_bus_key_gets_a_clear_error_not_a_crash(nats_url):
    async with serving(nats_url, "t.seal.other") as (nc, ran):
        stranger = RpcClient(nc, seal=BusSeal("a-different-bus-key-0123456789"))
        with pytest.raises(SealError, match=re.escape("security.bus_key")):
            await stranger.call("t.seal.other", Ask(secret="x"), Told)
    assert ran == []


async def test_an_unsealed_reply_is_refused_by_the_caller(nats_url):
    nc = await nats.connect(nats_url)

    async def impostor(msg: Msg) -> None:
        await msg.respond(b'{"ok": true, "result": {"token": "forged"}}')

    await nc.subscribe("t.seal.impostor", cb=impostor)
    try:
        with pytest.raises(SealError, match=re.escape("the reply on t.seal.impostor is not sealed")):
            await RpcClient(nc, seal=SEAL).call("t.seal.impostor", Ask(secret="x"), Told)
    finally:
        await nc.close()


async def test_a_service_with_another_bus_key_is_reported_unreachable_by_the_health_check_with_why(nats_url):
    server = RpcServer(seal=BusSeal("the-other-services-bus-key-0123456789"))
    add_health(server, service="sealtest", instance="pod-1")
    nc = await nats.connect(nats_url)
    await server.start(nc)
    await reach_server(nc)
    try:
        answer = await ping(RpcClient(nc, seal=SEAL), "sealtest")
        probed = await probe._probe("sealtest", "pod-1", RuntimeSettings(nats_url=nats_url))
    finally:
        await server.stop()
        await nc.close()
    assert answer["reachable"] is False
    assert "bus_payload_refused" in answer["reason"] and "security.bus_key" in answer["reason"]
    assert probed is True  # a pod's own probe holds no key, and its ping is not sealed
