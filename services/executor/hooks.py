"""Contextual Access at execution time (docs/contextual-access.md): call a project's hooks around
every run, immediate or scheduled.

The chains of a project are read from Redis once and kept until a write drops them (the replica
that wrote, at once; the others, every project's, on the ``vk.executor.hooks.changed`` broadcast) or ``ttl_s``
passes (a missed broadcast). A project without plugins costs one dictionary look-up per run.
Each call has its hook's time budget (capped, services/executor/hook_domain.py) and goes through
the outbound address policy (shared/runtime/addresses.py): unless private targets are allowed, the
plugin's host must resolve to public addresses only, and the call connects to the address checked.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx

from services.executor import hook_domain as domain
from services.executor.hook_domain import NO_HOOKS, Chains, Link, Unusable, Verdict
from services.executor.hook_store import HookStore
from shared.contracts.execution import ExecuteTool
from shared.errors import HookUnavailable, ToolDeniedByHook
from shared.runtime.addresses import Resolver, first_refused, literal_address, system_resolver
from shared.runtime.logging import get_logger

log = get_logger(__name__)

#: How long a replica trusts its copy of a project's chains without hearing of a change.
CHAINS_TTL_S = 30.0

Judge = Callable[[Any], Verdict]


class HookFailure(Exception):
    """A call that produced no usable answer: unreachable, timed out, refused, or nonsense."""


class ContextualAccess:
    """Calls the hooks of a run's project.

    Args:
        store: Plugins and hooks.
        http: The shared client (a hook call is one POST).
        allow_private: Skip the address policy (``security.allow_private_targets``).
        resolver: Host name to addresses (injectable for tests).
        ttl_s: How long a project's chains are kept without a change being heard of.
    """

    def __init__(
        self,
        store: HookStore,
        http: httpx.AsyncClient,
        *,
        allow_private: bool,
        resolver: Resolver = system_resolver,
        ttl_s: float = CHAINS_TTL_S,
    ) -> None:
        self._store = store
        self._http = http
        self._allow_private = allow_private
        self._resolve = resolver
        self._ttl_s = ttl_s
        self._cached: dict[str, tuple[Chains, float]] = {}
        self._generation = 0

    async def chains(self, project: str) -> Chains:
        """The project's chains, from memory when fresh."""
        hit = self._cached.get(project)
        now = time.monotonic()
        if hit is not None and hit[1] > now:
            return hit[0]
        generation = self._generation
        chains = await self._load(project)
        if generation == self._generation:  # no change was heard of while reading
            self._cached[project] = (chains, now + self._ttl_s)
        return chains

    def forget(self, project: str | None = None) -> None:
        """Drop the project's chains (every project's: None): the next run reads them again."""
        self._generation += 1
        if project is None:
            self._cached.clear()
        else:
            self._cached.pop(project, None)

    async def _load(self, project: str) -> Chains:
        plugins = await self._store.plugins(project)
        if not plugins:
            return NO_HOOKS
        hooks = await self._store.hooks(project)
        headers = {plugin_id: self._store.headers(plugin) for plugin_id, plugin in plugins.items()}
        return domain.chains_of(plugins, hooks.values(), headers)

    async def check_access(self, chains: Chains, definition: Mapping[str, Any], request: ExecuteTool) -> None:
        """Raises: ToolDeniedByHook when an access hook refuses; HookUnavailable (fail-closed)."""
        body = domain.access_request(definition, request.user_id)
        for link in chains.access:
            verdict = await self._ask(link, body, lambda answer: domain.access_verdict(answer, definition))
            if verdict is not None and not verdict.allowed:
                _deny(link, definition, verdict.reason or "access denied")

    async def rewrite_inputs(
        self,
        chains: Chains,
        definition: Mapping[str, Any],
        request: ExecuteTool,
        *,
        execution_id: str,
        secret_keys: list[str],
    ) -> dict[str, Any]:
        """The inputs after every pre hook, in order; each sees the previous one's rewrite.

        Raises:
            ToolDeniedByHook: A hook answered ``CHECK_FAILED`` (or rate-limited the call).
            HookUnavailable: A fail-closed hook failed, or rewrote inputs the tool would refuse.
        """
        inputs = dict(request.input)
        for link in chains.pre:
            body = domain.pre_request(
                definition,
                execution_id=execution_id,
                inputs=inputs,
                user_id=request.user_id,
                secret_keys=secret_keys,
            )
            verdict = await self._ask(link, body, _pre_judge(definition, inputs))
            if verdict is None:
                continue
            if not verdict.allowed:
                _deny(link, definition, verdict.reason)
            inputs = dict(verdict.rewrite or inputs)
        return inputs

    async def filter_output(
        self,
        chains: Chains,
        definition: Mapping[str, Any],
        request: ExecuteTool,
        *,
        execution_id: str,
        inputs: Mapping[str, Any],
        response: dict[str, Any],
        secret_keys: list[str],
    ) -> dict[str, Any]:
        """The tool's answer after every post hook, in order.

        Raises:
            ToolDeniedByHook, HookUnavailable: As :meth:`rewrite_inputs`.
        """
        for link in chains.post:
            body = domain.post_request(
                definition,
                execution_id=execution_id,
                inputs=inputs,
                response=response,
                user_id=request.user_id,
                secret_keys=secret_keys,
            )
            verdict = await self._ask(link, body, lambda answer: domain.result_verdict(answer, "output"))
            if verdict is None:
                continue
            if not verdict.allowed:
                _deny(link, definition, verdict.reason)
            response = domain.rewritten_output(response, verdict.rewrite)
        return response

    async def _ask(self, link: Link, body: dict[str, Any], judge: Judge) -> Verdict | None:
        """The hook's verdict, or None when it failed and fails open.

        Raises:
            HookUnavailable: It failed and fails closed.
        """
        try:
            return judge(await self._post(link, body))
        except (HookFailure, Unusable) as exc:
            why = str(exc)
        except TimeoutError:
            why = f"no answer within {link.timeout_s:g}s"
        except httpx.HTTPError as exc:
            why = f"{type(exc).__name__} calling {link.url}"
        if link.fail_open:
            log.warning("hooks.failed_open", hook=link.hook_id, point=link.point, why=why)
            return None
        log.warning("hooks.failed_closed", hook=link.hook_id, point=link.point, why=why)
        raise HookUnavailable(f"hook {link.name} ({link.point}) failed and fails closed: {why}")

    async def _post(self, link: Link, body: dict[str, Any]) -> Any:
        url, headers, extensions = await self._target(link)
        async with asyncio.timeout(link.timeout_s):
            response = await self._http.post(
                url,
                json=body,
                headers={**link.headers, **headers},
                timeout=link.timeout_s,
                extensions=extensions,
            )
        if response.status_code >= 300:
            raise HookFailure(f"{link.url} answered {response.status_code}")
        try:
            return response.json()
        except ValueError as exc:
            raise HookFailure(f"{link.url} answered with no JSON") from exc

    async def _target(self, link: Link) -> tuple[str, dict[str, str], dict[str, Any]]:
        """The URL to call, pinned to a checked address unless private targets are allowed."""
        if self._allow_private:
            return link.url, {}, {}
        parts = urlsplit(link.url)
        host = parts.hostname or ""
        port = parts.port or (443 if parts.scheme == "https" else 80)
        literal = literal_address(host)
        try:
            addresses = [str(literal)] if literal else await self._resolve(host, port)
        except OSError as exc:
            raise HookFailure(f"{host} does not resolve") from exc
        if not addresses or (refused := first_refused(addresses)) is not None:
            found = refused if addresses else "nothing"
            raise HookFailure(f"{host} resolves to {found}, refused by the address policy")
        address = addresses[0]
        shown = f"[{address}]" if ":" in address else address
        netloc = shown if parts.port is None else f"{shown}:{parts.port}"
        pinned = urlunsplit(parts._replace(netloc=netloc))
        return pinned, {"host": parts.netloc.rpartition("@")[2]}, {"sni_hostname": host}


def _pre_judge(definition: Mapping[str, Any], inputs: Mapping[str, Any]) -> Judge:
    """A pre answer's verdict, its rewrite merged into ``inputs`` and checked against the tool."""

    def judge(answer: Any) -> Verdict:
        verdict = domain.result_verdict(answer, "inputs")
        if not verdict.allowed or verdict.rewrite is None:
            return verdict
        merged = domain.merged_inputs(inputs, verdict.rewrite)
        domain.check_inputs(definition, merged)
        return Verdict(allowed=True, rewrite=merged)

    return judge


def _deny(link: Link, definition: Mapping[str, Any], reason: str) -> None:
    name = f"{definition['toolkit']['name']}.{definition['name']}"
    raise ToolDeniedByHook(f"tool {name} was refused by hook {link.name} ({link.point}): {reason}")
