"""One delivery attempt: pinned to the checked address, never redirected, always bounded in time."""

import asyncio
import json

import httpx
import pytest
from standardwebhooks import Webhook

from services.gateway.webhooks import domain
from services.gateway.webhooks.sender import Sender, vet_target
from services.gateway.webhooks.store import Endpoint

SECRET = domain.new_secret()


def hook(url: str) -> Endpoint:
    return Endpoint("e1", url, ["*"], True, "api", (domain.secret_key(SECRET),))


def resolver_returning(*answers: list[str]):
    """A resolver whose answer changes per call (what DNS rebinding looks like)."""
    calls = iter(answers)

    async def resolve(host: str, port: int) -> list[str]:
        return next(calls)

    return resolve


def recording(status: int = 200, headers: dict[str, str] | None = None):
    seen: list[httpx.Request] = []

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(status, headers=headers or {})

    return seen, httpx.MockTransport(handle)


class TestSend:
    async def test_the_request_goes_to_the_checked_address_with_the_name_kept(self):
        seen, transport = recording()
        sender = Sender(
            timeout=2,
            allow_private=False,
            resolver=resolver_returning(["93.184.216.34"]),
            transport=transport,
        )
        outcome = await sender.send(hook("https://hooks.example.com/in"), "evt_1", b'{"a":1}')
        request = seen[0]
        assert outcome.ok
        assert request.url.host == "93.184.216.34"
        assert request.headers["host"] == "hooks.example.com"
        assert request.extensions["sni_hostname"] == "hooks.example.com"
        assert Webhook(SECRET).verify(request.content, dict(request.headers)) == {"a": 1}

    async def test_a_name_that_rebinds_to_a_private_address_is_refused_at_delivery(self):
        seen, transport = recording()
        resolve = resolver_returning(["93.184.216.34"], ["127.0.0.1"])
        await vet_target("https://rebind.example.com/", allow_private=False, resolver=resolve)
        sender = Sender(timeout=2, allow_private=False, resolver=resolve, transport=transport)
        outcome = await sender.send(hook("https://rebind.example.com/"), "evt_1", b"{}")
        assert not outcome.ok and "refused target" in str(outcome.error)
        assert seen == []

    async def test_a_redirect_is_reported_not_followed(self):
        seen, transport = recording(302, {"location": "http://169.254.169.254/"})
        sender = Sender(timeout=2, allow_private=True, transport=transport)
        outcome = await sender.send(hook("http://127.0.0.1:9/in"), "evt_1", b"{}")
        assert outcome.status == 302 and not outcome.ok
        assert len(seen) == 1

    async def test_a_receiver_slower_than_the_timeout_is_cut_off(self):
        async def slow(request: httpx.Request) -> httpx.Response:
            await asyncio.sleep(5)
            return httpx.Response(200)

        sender = Sender(timeout=0.2, allow_private=True, transport=httpx.MockTransport(slow))
        outcome = await sender.send(hook("http://127.0.0.1:9/in"), "evt_1", b"{}")
        assert outcome.error == "timed out after 0.2s"

    async def test_connection_errors_become_outcomes_not_exceptions(self):
        def refuse(request: httpx.Request) -> httpx.Response:
            raise httpx.ConnectError("refused")

        sender = Sender(timeout=1, allow_private=True, transport=httpx.MockTransport(refuse))
        outcome = await sender.send(hook("http://127.0.0.1:9/in"), "evt_1", b"{}")
        assert outcome.describe() == "ConnectError"


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
