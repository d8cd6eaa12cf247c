"""The webhooks' pull loop against a real nats-server: messages stream in, the in-flight limit holds,
and a NATS restart does not leave the loop waiting on a request the server forgot."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable

import nats
import pytest
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, StorageType, StreamConfig

from services.webhooks import jetstream

pytestmark = pytest.mark.integration


async def until(check: Callable[[], bool], timeout: float = 10, what: str = "condition") -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not check():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)


async def publish_when_back(js: JetStreamContext, subject: str, data: bytes, timeout: float = 20) -> None:
    """Publish once JetStream answers again after a restart."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        try:
            await js.publish(subject, data, timeout=1)
            return
        except (nats.errors.Error, TimeoutError):
            if asyncio.get_running_loop().time() > deadline:
                raise
            await asyncio.sleep(0.2)


def names() -> tuple[str, str, str]:
    tag = secrets.token_hex(4)
    return f"PULL_{tag}", f"pull.{tag}", f"c_{tag}"


@pytest.fixture
async def nc(nats_url: str) -> AsyncIterator[nats.NATS]:
    client = await nats.connect(nats_url)
    yield client
    await client.close()


async def loop_on(
    client: nats.NATS, handle: Callable[[Msg], Awaitable[None]], *, max_in_flight: int = 64
) -> tuple[jetstream.PullLoop, str]:
    stream, subject, consumer = names()
    js = client.jetstream()
    await js.add_stream(StreamConfig(name=stream, subjects=[subject], storage=StorageType.FILE))
    config = ConsumerConfig(name=consumer, durable_name=consumer, ack_policy=AckPolicy.EXPLICIT, ack_wait=30)
    loop = jetstream.PullLoop(client, js, stream, config, handle, max_in_flight=max_in_flight)
    await loop.start()
    return loop, subject


class TestStreaming:
    async def test_messages_published_after_the_loop_starts_reach_the_handler_and_are_acked(self, nc):
        got: list[bytes] = []

        async def handle(msg: Msg) -> None:
            got.append(msg.data)
            await msg.ack()

        loop, subject = await loop_on(nc, handle)
        js = nc.jetstream()
        for i in range(5):
            await js.publish(subject, str(i).encode())
            await asyncio.sleep(0.02)
        await until(lambda: len(got) == 5, what="five messages")
        await loop.stop(grace=1)
        assert got == [b"0", b"1", b"2", b"3", b"4"]

    async def test_a_replica_never_holds_more_than_its_in_flight_limit(self, nc):
        release = asyncio.Event()
        held: list[Msg] = []
        peak = 0

        async def handle(msg: Msg) -> None:
            nonlocal peak
            held.append(msg)
            peak = max(peak, len(held))
            await release.wait()
            held.remove(msg)
            await msg.ack()

        loop, subject = await loop_on(nc, handle, max_in_flight=4)
        js = nc.jetstream()
        await asyncio.gather(*(js.publish(subject, b"x") for _ in range(20)))
        await until(lambda: len(held) == 4, what="four held messages")
        await asyncio.sleep(0.2)
        assert peak == 4
        release.set()
        await until(lambda: not held and peak == 4, what="the rest")
        await loop.stop(grace=1)


class TestRecovery:
    async def test_after_nats_restarts_the_loop_asks_again_and_gets_new_messages(self, own_nats, monkeypatch):
        monkeypatch.setattr(jetstream, "PULL_HEARTBEAT_SECONDS", 0.2)
        client = await nats.connect(own_nats.url, max_reconnect_attempts=-1, reconnect_time_wait=0.2)
        got: list[bytes] = []

        async def handle(msg: Msg) -> None:
            got.append(msg.data)
            await msg.ack()

        loop, subject = await loop_on(client, handle)
        js = client.jetstream()
        await js.publish(subject, b"before")
        await until(lambda: got == [b"before"], what="the first message")
        own_nats.kill()
        own_nats.start()
        await publish_when_back(js, subject, b"after")
        await until(lambda: got == [b"before", b"after"], timeout=15, what="a message after the restart")
        await loop.stop(grace=1)
        await client.close()
