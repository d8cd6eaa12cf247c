"""The model upstream is held to the outbound address policy (services/gateway/llm.py)."""

from __future__ import annotations

import httpx
import pytest

from services.gateway.llm import LlmUpstream
from shared.errors import TargetRefused
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
