"""The gateway's own outbound call: an OpenAI-compatible model upstream (engine.yaml ``llm.models``).

The URL is the operator's, yet it goes through the outbound address policy like every other
(shared/runtime/addresses.py): unless private targets are allowed, every address the host
resolves to must be public, and the connection is pinned to the address that was checked.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import httpx

from shared.errors import BadRequest, ProviderError, ProviderUnavailable, TargetRefused
from shared.providers.http import pinned
from shared.runtime.addresses import Resolver, first_refused, system_resolver
from shared.runtime.config_arcade import LlmModelConfig

#: A model may think for a while; the gateway's ``api.write_timeout``, when set, still bounds the request.
UPSTREAM_TIMEOUT_SECONDS = 120.0
#: Upstream answers that blame the request (a bad message, an unknown model): the caller's 400.
#: Others (401 and 403: the configured key) are the engine's problem, a 502.
CALLERS_FAULT = frozenset({400, 404, 422})


class LlmUpstream:
    """Chat completions at one configured upstream, over a client the app owns."""

    def __init__(
        self, client: httpx.AsyncClient, *, allow_private: bool, resolver: Resolver = system_resolver
    ) -> None:
        self._client = client
        self._allow_private = allow_private
        self._resolver = resolver

    async def aclose(self) -> None:
        await self._client.aclose()

    async def complete(self, entry: LlmModelConfig, request: dict[str, Any]) -> dict[str, Any]:
        """The upstream's answer to ``request``.

        Raises:
            BadRequest: The upstream refused the request itself (400, 404, 422).
            TargetRefused: The upstream's address is one the policy refuses.
            ProviderUnavailable: Unreachable, timed out, or 429/5xx.
            ProviderError: Any other non-2xx answer, or one that is not a JSON object.
        """
        url = f"{entry.openai.base_url}/chat/completions"
        target, headers, extensions = await self._pinned(url)
        if entry.openai.api_key is not None:
            headers["Authorization"] = f"Bearer {entry.openai.api_key.get_secret_value()}"
        try:
            response = await self._client.post(
                target, json=request, headers=headers, extensions=extensions, timeout=UPSTREAM_TIMEOUT_SECONDS
            )
        except httpx.HTTPError as exc:
            raise ProviderUnavailable(f"model {entry.id} unreachable: {type(exc).__name__}") from exc
        if response.status_code == 429 or response.status_code >= 500:
            raise ProviderUnavailable(f"model {entry.id} answered {response.status_code}")
        if response.status_code in CALLERS_FAULT:
            raise BadRequest(
                f"model {entry.id} refused the request ({response.status_code}): {response.text[:300]}"
            )
        if response.status_code >= 400:
            raise ProviderError(f"model {entry.id} answered {response.status_code}: {response.text[:300]}")
        try:
            answer = response.json()
        except ValueError as exc:
            raise ProviderError(f"model {entry.id} answered something that is not JSON") from exc
        if not isinstance(answer, dict):
            raise ProviderError(f"model {entry.id} answered something that is not a JSON object")
        return answer

    async def _pinned(self, url: str) -> tuple[str, dict[str, str], dict[str, Any]]:
        parts = urlsplit(url)
        if self._allow_private:
            return url, {}, {}
        port = parts.port or (443 if parts.scheme == "https" else 80)
        try:
            addresses = await self._resolver(parts.hostname or "", port)
        except OSError as exc:
            raise ProviderUnavailable(f"cannot resolve {parts.hostname}") from exc
        refused = first_refused(addresses)
        if refused is not None or not addresses:
            raise TargetRefused(
                f"the model's address {refused} is not public (security.allow_private_targets allows it)"
            )
        target, host_header, tls_name = pinned(parts, addresses[0])
        return target, {"Host": host_header}, ({"sni_hostname": tls_name} if tls_name else {})
