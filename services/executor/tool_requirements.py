"""``POST /v1/tools/requirements``: what a set of tools still needs for one user.

Arcade's ``ToolRequirementsResponse``: authorizations grouped by provider (scopes joined over the
tools that need it), secrets by key, each with the tools that need it; ``met`` at every level.
See docs/arcade-compatibility.md §3.4.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from services.executor.domain import authorization_of, scopes_of, secret_keys_of
from services.executor.ports import Authorizer, ProviderInfo, ProviderLookup
from services.executor.requirements import RequirementsReader
from shared.contracts.authorization import AuthRequirement, StartAuthorization
from shared.contracts.execution import CheckRequirements
from shared.errors import BadRequest


@dataclass
class AuthNeed:
    """One provider's part of the answer: the scopes every tool needing it asks for, joined."""

    info: ProviderInfo
    provider_type: str
    scopes: list[str] = field(default_factory=list)
    tool_names: list[str] = field(default_factory=list)
    token_status: str | None = None
    authorization_id: str | None = None
    url: str | None = None

    def add(self, tool_name: str, scopes: list[str]) -> None:
        self.scopes += [s for s in scopes if s not in self.scopes]
        if tool_name not in self.tool_names:
            self.tool_names.append(tool_name)

    @property
    def met(self) -> bool:
        return self.info.active and self.token_status == "completed"

    def view(self) -> dict[str, Any]:
        """``AuthorizationRequirementResult``."""
        return {
            "authorization_id": self.authorization_id,
            "met": self.met,
            "provider_id": self.info.key,
            "provider_type": self.provider_type,
            "scopes": self.scopes,
            "status": "active" if self.info.active else "inactive",
            "token_status": self.token_status,
            "tool_names": self.tool_names,
            "url": self.url,
        }


def requested_tools(request: CheckRequirements) -> list[tuple[str, str | None]]:
    """``(name, version)`` of each tool asked for, in order, without repeats.

    Raises:
        BadRequest: Neither ``tool_names`` nor ``tools`` names a tool.
    """
    asked = [(name, None) for name in request.tool_names] + [
        (ref.tool_name, ref.tool_version) for ref in request.tools
    ]
    if not asked:
        raise BadRequest("give the tools to check in tool_names or tools")
    return list(dict.fromkeys(asked))


def qualified(definition: Mapping[str, Any]) -> str:
    return f"{definition['toolkit']['name']}.{definition['name']}"


async def auth_needs(
    definitions: Sequence[Mapping[str, Any]], providers: ProviderLookup, project: str
) -> dict[str, AuthNeed]:
    """The authorizations the tools need, one per provider (keyed by the provider's id)."""
    needs: dict[str, AuthNeed] = {}
    for definition in definitions:
        auth = authorization_of(definition)
        if not auth:
            continue
        info = await providers.lookup(auth, project)
        need = needs.setdefault(info.key, AuthNeed(info, str(auth.get("provider_type") or "oauth2")))
        need.add(qualified(definition), scopes_of(auth))
    return needs


def secret_items(
    definitions: Sequence[Mapping[str, Any]], reader: RequirementsReader
) -> dict[str, dict[str, Any]]:
    """``SecretRequirementResult`` per secret key the tools need."""
    items: dict[str, dict[str, Any]] = {}
    for definition in definitions:
        for key in secret_keys_of(definition):
            met = reader.has_secret(key)
            item = items.setdefault(
                key,
                {"met": met, "status_reason": None if met else f"secret not found: {key}", "tool_names": []},
            )
            item["tool_names"].append(qualified(definition))
    return items


async def settle(
    need: AuthNeed, request: CheckRequirements, reader: RequirementsReader, authorizer: Authorizer
) -> None:
    """The user's token status for ``need``; with ``authorize``, a flow started when it is unmet."""
    if not need.info.active:
        return
    need.token_status = await reader.token_status(request.user_id, need.info.key, need.scopes)
    if need.met or not request.authorize:
        return
    requirement = AuthRequirement(id=need.info.key, provider_type=need.provider_type, scopes=need.scopes)
    start = StartAuthorization(user_id=request.user_id, project=request.project, requirement=requirement)
    authorization = await authorizer.start(start)
    need.token_status = authorization.status
    if authorization.status != "completed":
        need.authorization_id, need.url = authorization.id, authorization.url


def answer(needs: Mapping[str, AuthNeed], secrets: Mapping[str, dict[str, Any]]) -> dict[str, Any]:
    """``ToolRequirementsResponse``."""
    auth_met = all(n.met for n in needs.values())
    secrets_met = all(item["met"] for item in secrets.values())
    return {
        "met": auth_met and secrets_met,
        "authorization": {"met": auth_met, "items": {key: n.view() for key, n in needs.items()}},
        "secrets": {"met": secrets_met, "items": dict(secrets)},
    }
