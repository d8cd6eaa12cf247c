"""Reading the catalog for clients: list, get, formatted views, and ``tools.authorize``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from services.executor.definitions import to_anthropic, to_engine_definition, to_openai
from services.executor.domain import authorization_of, requirement_of, scopes_of
from services.executor.ports import Authorizer, Catalog, FreshTokens, ProviderLookup, Secrets, TokenReader
from services.executor.requirements import RequirementsReader
from services.executor.tool_filter import domains_of, parse_filter
from services.executor.tool_requirements import answer, auth_needs, requested_tools, secret_items, settle
from shared.bus.answers import Cacheable
from shared.contracts.authorization import Authorization, StartAuthorization
from shared.contracts.common import Page, utcnow
from shared.contracts.execution import AuthorizeTool, CheckRequirements, Document, GetTool, ListTools
from shared.errors import BadRequest
from shared.tokens.freshness import cacheable_until_due, completed_authorization
from shared.tokens.model import RefreshPolicy, covers

FORMATS = ("arcade", "openai", "anthropic")


def _formats(requested: list[str]) -> list[str]:
    """Requested formats, comma lists split, validated."""
    names = [part.strip().lower() for item in requested for part in item.split(",") if part.strip()]
    unknown = [n for n in names if n not in FORMATS]
    if unknown:
        raise BadRequest(f"unknown format {unknown[0]!r}: use one of {', '.join(FORMATS)}")
    return names


class ToolService:
    """List, get and authorize tools.

    Args:
        catalog: The merged catalog.
        providers: Provider mapping.
        tokens: The token store (token status in requirements).
        secrets: Tool secrets (secret status in requirements).
        authorizer: Starts an authorization when the user holds no covering token.
        fresh: Reads a user's token for a provider, never expired (``shared.tokens.freshness.fresh_token``).
        policy: When a token falls due for refresh: a cached ``tools.authorize`` answer lives no longer.
    """

    def __init__(
        self,
        catalog: Catalog,
        providers: ProviderLookup,
        tokens: TokenReader,
        secrets: Secrets,
        authorizer: Authorizer,
        fresh: FreshTokens,
        policy: RefreshPolicy | None = None,
    ) -> None:
        self._catalog = catalog
        self._providers = providers
        self._tokens = tokens
        self._secrets = secrets
        self._authorizer = authorizer
        self._fresh = fresh
        self._policy = policy or RefreshPolicy()

    async def reader(self, definitions: list[Mapping[str, Any]], project: str) -> RequirementsReader:
        """A requirements reader for one request (reads the secret keys only when a tool needs one)."""
        needs_secrets = any((d.get("requirements") or {}).get("secrets") for d in definitions)
        keys = await self._secrets.keys(project) if needs_secrets else frozenset()
        return RequirementsReader(self._providers, self._tokens, keys, project)

    async def views(
        self,
        definitions: list[dict[str, Any]],
        user_id: str | None,
        include: list[str],
        fmt: str | None,
        project: str,
    ) -> list[dict[str, Any]]:
        """Engine definitions (§4.1) or, with ``fmt``, formatted tools (§4.7)."""
        if fmt is not None and fmt != "arcade":
            formatter = to_openai if fmt == "openai" else to_anthropic
            return [formatter(d) for d in definitions]
        reader = await self.reader(list(definitions), project)
        views = []
        for definition in definitions:
            view = to_engine_definition(
                definition, requirements_status=await reader.status(definition, user_id)
            )
            if include:
                view["formatted_schema"] = {f: _formatted(f, definition, view) for f in include}
            views.append(view)
        return views

    async def list(self, query: ListTools) -> Page:
        """One page of tools, optionally of one toolkit (matched case-insensitively) and by metadata."""
        include, fmt = _formats(query.include_format), _single_format(query.format)
        found = self._catalog.definitions(
            project=query.project, toolkit=query.toolkit, all_versions=query.include_all_versions
        )
        wanted = parse_filter(query.filter, known_domains=domains_of(found))
        if wanted is not None:
            found = [d for d in found if wanted.matches(d)]
        page = found[query.offset : query.offset + query.limit]
        items = await self.views(page, query.user_id, include, fmt, query.project)
        if query.with_source:
            for item, definition in zip(items, page, strict=True):
                item["source"] = self._catalog.source_of(definition)
        return Page(items=items, total_count=len(found))

    async def get(self, query: GetTool) -> Document:
        """One tool (or its formatted form)."""
        include, fmt = _formats(query.include_format), _single_format(query.format)
        definition, _ = self._catalog.resolve(query.name, project=query.project)
        views = await self.views([definition], query.user_id, include, fmt, query.project)
        return Document(body=views[0])

    async def requirements(self, request: CheckRequirements) -> Document:
        """What the tools still need for the user (``POST /v1/tools/requirements``).

        Raises:
            BadRequest: No tool named, or a name that does not parse.
            NotFound: An unknown tool.
        """
        definitions = [
            self._catalog.resolve(name, version, project=request.project)[0]
            for name, version in requested_tools(request)
        ]
        reader = await self.reader(list(definitions), request.project)
        needs = await auth_needs(definitions, self._providers, request.project)
        for need in needs.values():
            await settle(need, request, reader, self._authorizer)
        return Document(body=answer(needs, secret_items(definitions, reader)))

    async def authorize(self, request: AuthorizeTool) -> Authorization:
        """Start or confirm the authorization a tool needs; ``completed`` for a tool that needs none."""
        given = await self.answer_authorize(request)
        return given.result if isinstance(given, Cacheable) else given

    async def answer_authorize(self, request: AuthorizeTool) -> Cacheable[Authorization] | Authorization:
        """Start or confirm the authorization a tool needs; ``completed`` for a tool that needs none.

        The gateway may repeat a ``completed`` answer until its token falls due for refresh, or
        for its own lifetime for a tool needing no authorization (docs/nats.md, "The answer cache").
        """
        definition, _ = self._catalog.resolve(
            request.tool_name, request.tool_version, project=request.project
        )
        auth = authorization_of(definition)
        if not auth:
            return Cacheable(Authorization(status="completed", user_id=request.user_id))
        # The hot path: the user holds a covering token, so no flow is needed and the
        # authorizer need not be asked (one NATS hop and a record write fewer).
        info = await self._providers.lookup(auth, request.project)
        if info.active:
            token = await self._fresh(request.user_id, info.key, project=request.project)
            now = utcnow()
            if covers(token, scopes_of(auth), now=now):
                done = completed_authorization(request.user_id, info.key, token, request.project)
                return cacheable_until_due(done, token, self._policy, now=now)
        start = StartAuthorization(
            user_id=request.user_id,
            project=request.project,
            requirement=requirement_of(auth),
            next_uri=request.next_uri,
        )
        return await self._authorizer.start(start)


def _single_format(fmt: str | None) -> str | None:
    if fmt is None or not fmt.strip():
        return None
    names = _formats([fmt])
    if len(names) != 1:
        raise BadRequest(f"format takes one of {', '.join(FORMATS)}")
    return names[0]


def _formatted(fmt: str, definition: Mapping[str, Any], view: Mapping[str, Any]) -> dict[str, Any]:
    if fmt == "openai":
        return to_openai(definition)
    if fmt == "anthropic":
        return to_anthropic(definition)
    return {k: v for k, v in view.items() if k != "formatted_schema"}
