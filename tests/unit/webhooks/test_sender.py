"""One delivery attempt: pinned to the checked address, never redirected, always bounded in time."""

import asyncio
import json
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest
from aiohttp import web
from standardwebhooks import Webhook

from services.webhooks import domain
from services.webhooks import sender as sender_module
from services.webhooks.domain import Endpoint
from services.webhooks.sender import AiohttpWire, Outcome, Request, Sender, vet_target

SECRET = domain.new_secret()


def hook(url: str) -> Endpoint:
    return Endpoint("e1", url, ["*"], True, "api", (domain.secret_key(SECRET),))


def resolver_returning(*answers: list[str]):
    """A resolver whose answer changes per call (what DNS rebinding looks like)."""
    calls = iter(answers)

    async def resolve(host: str, port: int) -> list[str]:
        return next(calls)

    return resolve


@dataclass
class Seen:
    path: str
    headers: dict[str, str]
    peer: object


class RecordingWire:
    """Answers every request with ``status`` and keeps what it was asked to send."""

    def __init__(self, status: int = 200) -> None:
        self.status = status
        self.seen: list[Request] = []

    async def post(self, pool: str, request: Request) -> Outcome:
        self.seen.append(request)
        return Outcome(status=self.status)

    async def close(self) -> None:
        pass


@pytest.fixture
async def receiver() -> AsyncIterator[tuple[str, list[Seen]]]:
    """A real HTTP server on loopback: it answers 204, or 302 on /moved, after 1 s on /slow, 1 MiB on /big."""
    seen: list[Seen] = []

    async def answer(request: web.Request) -> web.StreamResponse:
        peer = request.transport.get_extra_info("peername") if request.transport else None
        seen.append(Seen(request.path, {k.lower(): v for k, v in request.headers.items()}, peer))
        await request.read()
        if request.path == "/moved":
            return web.Response(status=302, headers={"location": "http://169.254.169.254/"})
        if request.path == "/slow":
            await asyncio.sleep(1)
        if request.path == "/big":
            return web.Response(body=b"x" * (1 << 20))
        if request.path.startswith("/status/"):  # /status/<code>/<retry-after>
            _, _, code, after = request.path.split("/")
            return web.Response(status=int(code), headers={"Retry-After": after})
        return web.Response(status=204)

    app = web.Application()
    app.router.add_route("POST", "/{tail:.*}", answer)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    yield f"http://127.0.0.1:{port}", seen
    await runner.cleanup()


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class TestPinning:
    async def test_the_request_goes_to_the_checked_address_with_the_name_kept(self):
        wire = RecordingWire()
        sender = Sender(
            timeout=2, allow_private=False, resolver=resolver_returning(["93.184.216.34"]), wire=wire
        )
        outcome = await sender.send(hook("https://hooks.example.com/in"), "evt_1", b'{"a":1}')
        [request] = wire.seen
        assert outcome.ok
        assert request.url == "https://93.184.216.34:443/in"
        assert request.headers["host"] == "hooks.example.com"
        assert request.server_hostname == "hooks.example.com"
        assert Webhook(SECRET).verify(request.body, request.headers) == {"a": 1}

    async def test_a_name_that_rebinds_to_a_private_address_is_refused_at_delivery(self):
        wire = RecordingWire()
        resolve = resolver_returning(["93.184.216.34"], ["127.0.0.1"])
        await vet_target("https://rebind.example.com/", allow_private=False, resolver=resolve)
        sender = Sender(timeout=2, allow_private=False, resolver=resolve, wire=wire)
        outcome = await sender.send(hook("https://rebind.example.com/"), "evt_1", b"{}")
        assert not outcome.ok and "refused target" in str(outcome.error)
        assert wire.seen == []

    async def test_a_plain_http_target_on_another_port_keeps_its_port_in_the_host_header(self):
        wire = RecordingWire()
        sender = Sender(
            timeout=2, allow_private=False, resolver=resolver_returning(["93.184.216.34"]), wire=wire
        )
        await sender.send(hook("http://hooks.example.com:8080/in?x=1"), "evt_1", b"{}")
        [request] = wire.seen
        assert request.url == "http://93.184.216.34:8080/in?x=1"
        assert request.headers["host"] == "hooks.example.com:8080"
        assert request.server_hostname is None


class TestRetryAfter:
    @pytest.mark.parametrize(("code", "after"), [(429, 7.0), (503, 30.0)])
    async def test_a_busy_receivers_retry_after_is_reported(self, receiver, code, after):
        base, _ = receiver
        sender = Sender(timeout=2, allow_private=True)
        outcome = await sender.send(hook(f"{base}/status/{code}/{after:g}"), "evt_1", b"{}")
        await sender.close()
        assert (outcome.status, outcome.retry_after, outcome.ok) == (code, after, False)

    async def test_retry_after_on_another_failure_is_not_heeded(self, receiver):
        base, _ = receiver
        sender = Sender(timeout=2, allow_private=True)
        outcome = await sender.send(hook(f"{base}/status/500/60"), "evt_1", b"{}")
        await sender.close()
        assert (outcome.status, outcome.retry_after) == (500, None)


class TestOverTheWire:
    async def test_a_delivery_arrives_signed_with_its_headers(self, receiver):
        base, seen = receiver
        sender = Sender(timeout=2, allow_private=True)
        outcome = await sender.send(hook(f"{base}/in"), "evt_1", b'{"a":1}')
        await sender.close()
        [request] = seen
        assert outcome.status == 204
        assert request.headers["content-type"] == "application/json"
        assert request.headers["user-agent"].startswith("valetkey-webhooks/")
        assert request.headers["webhook-id"] == "evt_1"

    async def test_a_redirect_is_reported_not_followed(self, receiver):
        base, seen = receiver
        sender = Sender(timeout=2, allow_private=True)
        outcome = await sender.send(hook(f"{base}/moved"), "evt_1", b"{}")
        await sender.close()
        assert outcome.status == 302 and not outcome.ok
        assert len(seen) == 1

    async def test_a_receiver_slower_than_the_timeout_is_cut_off(self, receiver):
        base, _ = receiver
        sender = Sender(timeout=0.2, allow_private=True)
        outcome = await sender.send(hook(f"{base}/slow"), "evt_1", b"{}")
        await sender.close()
        assert outcome.error == "timed out after 0.2s"

    async def test_connection_errors_become_outcomes_not_exceptions(self):
        sender = Sender(timeout=1, allow_private=True)
        outcome = await sender.send(hook(f"http://127.0.0.1:{closed_port()}/in"), "evt_1", b"{}")
        await sender.close()
        assert outcome.describe() == "ConnectError"

    async def test_connections_to_an_endpoint_are_kept_alive_between_deliveries(self, receiver):
        base, seen = receiver
        sender = Sender(timeout=2, allow_private=True)
        for i in range(3):
            assert (await sender.send(hook(f"{base}/in"), f"evt_{i}", b"{}")).ok
        await sender.close()
        assert len(seen) == 3 and len({r.peer for r in seen}) == 1

    async def test_a_large_answer_is_read_only_in_part_and_its_connection_dropped(self, receiver):
        base, seen = receiver
        sender = Sender(timeout=2, allow_private=True, wire=AiohttpWire(per_endpoint=1))
        assert (await sender.send(hook(f"{base}/big"), "evt_1", b"{}")).status == 200
        assert (await sender.send(hook(f"{base}/in"), "evt_2", b"{}")).ok
        await sender.close()
        big, small = seen
        assert big.peer != small.peer


class TestVet:
    async def test_names_that_do_not_resolve_are_refused(self):
        async def fail(host: str, port: int) -> list[str]:
            raise OSError("no such host")

        with pytest.raises(domain.InvalidTarget, match="does not resolve"):
            await vet_target("https://nowhere.invalid/", allow_private=False, resolver=fail)

    async def test_private_targets_pass_when_allowed(self):
        await vet_target("http://10.0.0.8:8080/in", allow_private=True)


def test_payload_json_round_trip_is_stable():
    body = json.dumps({"b": 1, "a": 2}, separators=(",", ":")).encode()
    headers = domain.signed_headers([domain.secret_key(SECRET)], "evt", 1, body)
    assert headers["webhook-id"] == "evt" and headers["webhook-timestamp"] == "1"


class TestPools:
    async def test_a_pool_unused_for_the_idle_time_is_closed_and_made_again_on_demand(self, receiver):
        base, seen = receiver
        now = [1000.0]
        wire = AiohttpWire(per_endpoint=1, clock=lambda: now[0])
        request = Request(url=f"{base}/in", headers={}, body=b"{}")
        assert (await wire.post("deleted-endpoint", request)).status == 204
        now[0] += sender_module.IDLE_POOL_SECONDS + sender_module.PRUNE_EVERY_SECONDS
        assert (await wire.post("live-endpoint", request)).status == 204
        assert wire.pools == 1
        assert (await wire.post("deleted-endpoint", request)).status == 204  # recreated if it comes back
        await wire.close()
        assert len(seen) == 3 and wire.pools == 0
