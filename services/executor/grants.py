"""What a remote worker's tools may receive: the secrets and auth providers granted to that worker.

A worker describes its tools itself, and a definition names the secrets and the OAuth provider
its tool wants (``requirements.secrets``, ``requirements.authorization``). Left at that, the
worker would decide what it receives. So every remote worker (arcade-serve or MCP) holds grants:
the secret keys and provider names its tools may ask for. A tool that asks for anything outside
them is not registered (the worker's other tools are), and the refusal is shown on the worker.

A provider is named as the tool names it: its requirement's ``id`` (a configured provider), else
its ``provider_id`` (arcade-tdk's ``GitHub()``); that name is what picks whose tokens it gets.
Names compare case-insensitively, as secret keys do everywhere else.

The default, for a worker whose grants nobody wrote (docs/arcade-compatibility.md §4.4): it is
granted what its tools asked for the first time the engine listed them, and nothing more later.
A worker registered through the API is listed at registration, so the admin who registers it
grants what it asks then, and the answer shows it; engine.yaml's workers (and one that was down
when registered) are pinned at their first listing, in Redis, so every replica and every restart
keeps the same grants. Existing deployments keep working, and a worker that later asks for more
(a compromised or careless redeploy) is refused until an operator widens its grants. In-process
toolkits are code the operator installed: they are trusted and hold no grants.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from services.executor.domain import authorization_of, qualified_name, secret_keys_of


def _unique(names: Iterable[str]) -> tuple[str, ...]:
    """Names once each (case-insensitively, the first spelling kept), sorted."""
    seen: dict[str, str] = {}
    for name in names:
        seen.setdefault(name.lower(), name)
    return tuple(sorted(seen.values(), key=str.lower))


@dataclass(frozen=True)
class Grants:
    """Secret keys and provider names a worker's tools may ask for."""

    secrets: tuple[str, ...] = ()
    providers: tuple[str, ...] = ()

    @classmethod
    def of(cls, secrets: Iterable[str] = (), providers: Iterable[str] = ()) -> Grants:
        return cls(_unique(secrets), _unique(providers))

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Grants:
        return cls.of(data.get("secrets") or (), data.get("providers") or ())

    def to_json(self) -> dict[str, list[str]]:
        return {"secrets": list(self.secrets), "providers": list(self.providers)}

    def beyond(self, wanted: Grants) -> Grants:
        """What ``wanted`` holds that these grants do not."""
        secrets = {s.lower() for s in self.secrets}
        providers = {p.lower() for p in self.providers}
        return Grants(
            tuple(s for s in wanted.secrets if s.lower() not in secrets),
            tuple(p for p in wanted.providers if p.lower() not in providers),
        )

    def __bool__(self) -> bool:
        return bool(self.secrets or self.providers)


def asks(definition: Mapping[str, Any]) -> Grants:
    """What one tool definition asks for."""
    auth = authorization_of(definition)
    provider = str(auth.get("id") or auth.get("provider_id") or "") if auth else ""
    return Grants.of(secret_keys_of(definition), [provider] if provider else [])


def asked(definitions: Iterable[Mapping[str, Any]]) -> Grants:
    """What a worker's tools ask for, together."""
    wanted = [asks(d) for d in definitions]
    return Grants.of(
        (s for w in wanted for s in w.secrets),
        (p for w in wanted for p in w.providers),
    )


@dataclass(frozen=True)
class Refusal:
    """A tool left out because it asks for what its worker is not granted."""

    tool: str
    missing: Grants

    def view(self) -> dict[str, Any]:
        return {"tool": self.tool, **self.missing.to_json()}

    def needs(self) -> str:
        """``secret A, provider b``: what it asks beyond the grants."""
        parts = [f"secret {s}" for s in self.missing.secrets]
        return ", ".join(parts + [f"provider {p}" for p in self.missing.providers])

    def text(self) -> str:
        return f"{self.tool} asks for {self.needs()}"


def screen(
    definitions: Iterable[dict[str, Any]], grants: Grants
) -> tuple[list[dict[str, Any]], list[tuple[dict[str, Any], Refusal]]]:
    """Split a worker's definitions into the granted ones and the refused ones (with why, by tool name)."""
    admitted: list[dict[str, Any]] = []
    refused: list[tuple[dict[str, Any], Refusal]] = []
    for definition in definitions:
        missing = grants.beyond(asks(definition))
        if missing:
            refused.append((definition, Refusal(qualified_name(definition), missing)))
        else:
            admitted.append(definition)
    return admitted, sorted(refused, key=lambda pair: pair[1].tool.lower())
