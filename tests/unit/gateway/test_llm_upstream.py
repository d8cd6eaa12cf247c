"""The model upstream is held to the outbound address policy (services/gateway/llm.py)."""

from __future__ import annotations

import httpx
import pytest

from services.gateway.llm import LlmUpstream
from shared.errors import BadRequest, ProviderError, ProviderUnavailable, TargetRefused
from shared.runtime.config_arcade import LlmModelConfig

MODEL = LlmModelConfig.model_validate({"id": "m", "openai": {"base_url": "https://llm.example/v1"}})


@pytest.mark.parametrize("address", ["127.0.0.1", "10.1.2.3", "169.254.169.254", "::ffff:127.0.0.1"])
async def test_a_model_host_resolving_to_a_private_address_is_refused_before_any_call(address):
    async def resolver(host: str, port: int) -> list[str]:
        assert (host, port) == ("llm.example", 443)
        return [address]

    async with httpx.AsyncClient() as client:
        upstream = LlmUpstream(client, allow_private=False, resolver=resolver)
        with pytest.raises(TargetRefused, match=r"security\.allow_private_targets"):
            await upstream.complete(MODEL, {"messages": []})


@pytest.mark.parametrize(
    ("status", "body", "error"),
    [
        (400, {"error": "bad message"}, BadRequest),
        (404, {"error": "no such model"}, BadRequest),
        (401, {"error": "bad key"}, ProviderError),
        (429, {}, ProviderUnavailable),
        (503, {}, ProviderUnavailable),
        (200, [1, 2], ProviderError),
    ],
)
async def test_an_upstream_failure_is_the_callers_400_or_the_engines_502(status, body, error):
    def answer(request: httpx.Request) -> httpx.Response:
        assert request.headers["authorization"] == "Bearer k"
        return httpx.Response(status, json=body)

    keyed = LlmModelConfig.model_validate({"id": "m", "openai": {"base_url": "http://llm", "api_key": "k"}})
    async with httpx.AsyncClient(transport=httpx.MockTransport(answer)) as client:
        with pytest.raises(error) as raised:
            await LlmUpstream(client, allow_private=True).complete(keyed, {"messages": []})
    assert type(raised.value) is error
