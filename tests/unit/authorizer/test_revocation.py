"""Revoking a deleted connection's grant at its provider: RFC 7009's order, and an outcome for every case."""

from __future__ import annotations

from datetime import UTC, datetime

from services.authorizer.revocation import Revocations
from shared.errors import ProviderError, ProviderUnavailable, TargetRefused
from shared.tokens.model import StoredToken
from tests.support.provider_examples import hooli

REVOKE = {"endpoint": "https://hooli.example/oauth/revoke", "auth_method": "client_secret_basic"}
PROVIDER = hooli(token_revocation_request=REVOKE)


class Client:
    """The provider client's ``revoke``, answering from a script (an exception to raise, or None)."""

    def __init__(self, *answers: Exception | None) -> None:
        self.answers = list(answers)
        self.calls: list[tuple[str, str | None, float | None]] = []

    async def revoke(self, provider, token, *, token_type_hint=None, timeout=None):
        self.calls.append((token, token_type_hint, timeout))
        answer = self.answers.pop(0) if self.answers else None
        if answer is not None:
            raise answer
        return True


def stored(refresh: str | None = "rt-1") -> StoredToken:
    return StoredToken(access_token="at-1", refresh_token=refresh, issued_at=datetime.now(UTC))


async def revoke(client: Client, provider=PROVIDER, token=None, budget: float = 4.0):
    return await Revocations(client, budget=budget).revoke("hooli", provider, token or stored())


class TestRevoked:
    async def test_the_refresh_token_alone_is_revoked_since_that_ends_the_grant(self):
        client = Client()
        outcome = await revoke(client)
        assert (outcome.status, outcome.reason) == ("revoked", None)
        assert [(t, h) for t, h, _ in client.calls] == [("rt-1", "refresh_token")]

    async def test_without_a_refresh_token_the_access_token_is_revoked(self):
        client = Client()
        assert (await revoke(client, token=stored(refresh=None))).status == "revoked"
        assert [(t, h) for t, h, _ in client.calls] == [("at-1", "access_token")]

    async def test_a_provider_that_does_not_revoke_refresh_tokens_gets_the_access_token(self):
        unsupported = ProviderError(
            "provider hooli returned unsupported_token_type", provider_error="unsupported_token_type"
        )
        client = Client(unsupported, None)
        assert (await revoke(client)).status == "revoked"
        assert [h for _, h, _ in client.calls] == ["refresh_token", "access_token"]

    async def test_every_call_gets_what_is_left_of_one_budget(self):
        client = Client(ProviderError("x", provider_error="unsupported_token_type"), None)
        await revoke(client, budget=2.0)
        first, second = client.calls[0][2], client.calls[1][2]
        assert first is not None and second is not None and 0 < second <= first <= 2.0


class TestNotRevoked:
    async def test_a_provider_without_a_revocation_endpoint_is_not_supported_and_nothing_is_sent(self):
        client = Client()
        outcome = await revoke(client, provider=hooli())
        assert (outcome.status, outcome.reason) == (
            "not_supported",
            "provider hooli has no revocation endpoint",
        )
        assert client.calls == []

    async def test_a_refusal_is_failed_with_the_providers_reason_and_nothing_more_is_tried(self):
        client = Client(
            ProviderError(
                "provider hooli returned invalid_client: bad secret", provider_error="invalid_client"
            )
        )
        outcome = await revoke(client)
        assert outcome.status == "failed"
        assert (
            outcome.reason == "revoking the refresh token: provider hooli returned invalid_client: bad secret"
        )
        assert len(client.calls) == 1

    async def test_an_unreachable_or_refused_address_is_failed_too(self):
        for error in (ProviderUnavailable("timed out calling hooli.example"), TargetRefused("loopback")):
            outcome = await revoke(Client(error))
            assert outcome.status == "failed" and outcome.reason is not None

    async def test_an_unexpected_error_is_failed_naming_only_its_type(self):
        outcome = await revoke(Client(RuntimeError("secret-bearing text")))
        assert (outcome.status, outcome.reason) == ("failed", "revoking the refresh token: RuntimeError")

    async def test_a_provider_no_longer_configured_or_a_missing_token_is_failed_without_a_call(self):
        client = Client()
        gone = await Revocations(client).revoke("hooli", None, stored())
        empty = await Revocations(client).revoke("hooli", PROVIDER, None)
        assert (gone.status, gone.reason) == ("failed", "provider hooli is no longer configured")
        assert (empty.status, empty.reason) == ("failed", "no token was stored for this connection")
        assert client.calls == []
