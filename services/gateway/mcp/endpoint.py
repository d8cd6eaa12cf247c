"""``/mcp/{slug}``: find the gateway, authenticate the caller, then hand the request to the MCP server.

Two user modes (docs/mcp.md, "Who the user is"). ``headers``: ``Authorization: Bearer <API key>``
(the key ``/v1`` accepts) and ``Arcade-User-ID: <user>``. ``oauth``: a bearer access token of
the platform's OpenID provider, its user claim naming the user; without one (or with a bad one)
the answer is 401 with ``WWW-Authenticate: Bearer resource_metadata="..."``, where an MCP client
learns where to sign the user in (RFC 9728). Anything refused here is answered in Arcade's
error shape before the MCP server sees it: 404 for an unknown gateway (or, in ``headers`` mode, one
of another project than the key's), 401, or 400 for a missing user. The gateway's project is the
one its tools run in, for its users and with their tokens.
"""

from __future__ import annotations

from starlette.datastructures import Headers
from starlette.responses import JSONResponse
from starlette.types import Receive, Scope, Send

from services.gateway.domain import ApiKeys
from services.gateway.errors import error_response
from services.gateway.mcp.access_tokens import AccessTokens, InvalidAccessToken
from services.gateway.mcp.domain import CALLER_KEY, Caller, Gateway
from services.gateway.mcp.gateways import GatewayDirectory
from services.gateway.mcp.on_demand import ServerOnDemand
from shared.errors import BadRequest, NotFound, ServiceUnavailable, Unauthorized, ValetkeyError

USER_HEADER = "arcade-user-id"
MAX_USER_ID = 256
METADATA_PREFIX = "/.well-known/oauth-protected-resource"


class AccessTokenRequired(Unauthorized):
    """An ``oauth`` gateway called without a bearer token: the client should sign the user in."""

    code = "access_token_required"


class McpEndpoint:
    """The ASGI app of the ``/mcp/{slug}`` route.

    Args:
        gateways: Finds a gateway by slug.
        keys: The API keys (mode ``headers``).
        server: The MCP server every gateway shares.
        public_url: The engine's public URL: a gateway's resource is ``<public_url>/mcp/<slug>``.
        tokens: Checks access tokens (mode ``oauth``); None when no OpenID provider is configured.
    """

    def __init__(
        self,
        gateways: GatewayDirectory,
        keys: ApiKeys,
        server: ServerOnDemand,
        public_url: str,
        tokens: AccessTokens | None = None,
    ) -> None:
        self._gateways = gateways
        self._keys = keys
        self._server = server
        self._public_url = public_url.rstrip("/")
        self._tokens = tokens

    def resource(self, slug: str) -> str:
        return f"{self._public_url}/mcp/{slug}"

    def metadata_url(self, slug: str) -> str:
        return f"{self._public_url}{METADATA_PREFIX}/mcp/{slug}"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        slug = scope["path_params"]["slug"]
        try:
            gateway = await self._gateways.get(slug)
            scope[CALLER_KEY] = Caller(gateway, await self._user(gateway, Headers(scope=scope)))
        except Unauthorized as exc:
            await self._challenge(slug, exc)(scope, receive, send)
            return
        except ValetkeyError as exc:
            await error_response(exc)(scope, receive, send)
            return
        await self._server.handle(scope, receive, send)

    async def metadata(self, slug: str) -> JSONResponse:
        """The protected resource metadata (RFC 9728) of an ``oauth`` gateway.

        Raises:
            NotFound: No gateway has that slug, or it does not take access tokens.
        """
        gateway = await self._gateways.get(slug)
        if gateway.auth != "oauth" or self._tokens is None:
            raise NotFound(f"MCP gateway {slug} takes no access tokens")
        return JSONResponse(
            {
                "resource": self.resource(slug),
                "authorization_servers": [self._tokens.issuer],
                "bearer_methods_supported": ["header"],
                "resource_name": gateway.description or gateway.slug,
            }
        )

    def _challenge(self, slug: str, exc: Unauthorized) -> JSONResponse:
        response = error_response(exc)
        if isinstance(exc, InvalidAccessToken | AccessTokenRequired):
            challenge = f'Bearer resource_metadata="{self.metadata_url(slug)}"'
            if isinstance(exc, InvalidAccessToken):
                challenge += ', error="invalid_token"'
            response.headers["WWW-Authenticate"] = challenge
        return response

    async def _user(self, gateway: Gateway, headers: Headers) -> str:
        if gateway.auth == "oauth":
            return await self._token_user(gateway, headers)
        return self._header_user(gateway, headers)

    async def _token_user(self, gateway: Gateway, headers: Headers) -> str:
        """The user of the bearer access token.

        Raises:
            Unauthorized: No bearer token (code ``access_token_required``).
            InvalidAccessToken: A token that is not valid for this gateway.
        """
        if self._tokens is None:
            raise ServiceUnavailable(f"gateway {gateway.slug} needs auth.verification.oidc to take tokens")
        scheme, _, token = (headers.get("authorization") or "").strip().partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise AccessTokenRequired(
                f"gateway {gateway.slug} needs an access token of the platform's sign-in"
            )
        return await self._tokens.user(token.strip(), self.resource(gateway.slug))

    def _header_user(self, gateway: Gateway, headers: Headers) -> str:
        """The ``Arcade-User-ID`` user, after the API key check.

        Raises:
            Unauthorized: Missing or unknown API key.
            NotFound: A key of another project than the gateway's (to it, the gateway does not exist).
            BadRequest: No (or an unusable) ``Arcade-User-ID``.
        """
        # A gateway runs tools in its project: another project's key would reach that project's users.
        if self._keys.check(headers.get("authorization")).project != gateway.project:
            raise NotFound(f"MCP gateway {gateway.slug} not found")
        user = (headers.get(USER_HEADER) or "").strip()
        if not user:
            raise BadRequest(
                f"missing Arcade-User-ID header: gateway {gateway.slug} runs tools for that user"
            )
        if len(user) > MAX_USER_ID:
            raise BadRequest(f"Arcade-User-ID longer than {MAX_USER_ID} characters")
        return user
