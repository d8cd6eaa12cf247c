"""The one error tree of valetkey.

Every failure that can reach a client or cross a service boundary is a
:class:`ValetkeyError` with a stable ``code`` (the ``name`` of Arcade's error
body), an HTTP ``status`` and a ``retryable`` flag::

    ValetkeyError                      internal_error           500
    ├── BadRequest                     malformed_request        400
    │   ├── UserMismatch               user_mismatch            400
    │   └── InvalidWebhookTarget       invalid_webhook_target   400
    ├── Unauthorized                   unauthorized             401
    ├── Forbidden                      forbidden                403
    │   ├── AdminKeyRequired           admin_key_required       403  (an agent key on an admin route)
    │   ├── ProjectForbidden           project_forbidden        403  (a key on another project's path)
    │   ├── ToolAuthorizationRequired  tool_authorization_required 403
    │   ├── ToolRequirementsNotMet     tool_requirements_not_met   403
    │   ├── ToolNotGranted             tool_not_granted         403  (asks what its worker is not granted)
    │   ├── ToolDeniedByHook           tool_denied_by_hook      403  (a Contextual Access hook said no)
    │   └── HookUnavailable            hook_unavailable         403  retryable (a fail-closed hook failed)
    ├── NotFound                       not_found                404
    │   └── RouteNotFound              route_not_found          404
    ├── MethodNotAllowed               method_not_allowed       405  (with an Allow header)
    ├── Conflict                       conflict                 409
    ├── UnsupportedMediaType           unsupported_media_type   415
    ├── ProviderError                  provider_error           502  (OAuth server answered badly)
    │   ├── InvalidGrant               invalid_grant            400-class at the provider, 502 here
    │   └── ProviderUnavailable        provider_unavailable     502  retryable (timeout, 5xx, 429)
    ├── ServiceUnavailable             service_unavailable      503  retryable (no responder, timeout)
    ├── SealError                      bus_payload_refused      500  (not sealed under the bus key)
    └── ConfigError                    config_error             500  (engine.yaml is wrong; stops start-up)

Errors travel between services as :meth:`ValetkeyError.to_payload` and are
rebuilt with :func:`error_from_payload`, so the gateway answers with the same
code the service raised.
"""

from __future__ import annotations

from typing import Any, ClassVar


class ValetkeyError(Exception):
    """Base of every valetkey error.

    Args:
        message: Human text, safe to show to a client (never a secret).
        details: Extra structured fields added to the error body.
    """

    code: ClassVar[str] = "internal_error"
    status: ClassVar[int] = 500
    retryable: ClassVar[bool] = False

    def __init__(self, message: str = "", **details: Any) -> None:
        super().__init__(message or self.code)
        self.message = message or self.code
        self.details = details

    def to_payload(self) -> dict[str, Any]:
        """Return the wire form: Arcade's ``{"name", "message"}`` plus details."""
        body: dict[str, Any] = {"name": self.code, "message": self.message}
        body.update(self.details)
        return body


class BadRequest(ValetkeyError):
    code = "malformed_request"
    status = 400


class UserMismatch(BadRequest):
    code = "user_mismatch"


class TargetRefused(BadRequest):
    """A provider or worker URL whose address the outbound policy refuses (shared/runtime/addresses.py)."""

    code = "target_refused"


class InvalidWebhookTarget(BadRequest):
    """A webhook URL that valetkey refuses to call (scheme, credentials or address)."""

    code = "invalid_webhook_target"


class Unauthorized(ValetkeyError):
    code = "unauthorized"
    status = 401


class Forbidden(ValetkeyError):
    code = "forbidden"
    status = 403


class AdminKeyRequired(Forbidden):
    """An ``agent`` key on a route only a project's ``admin`` keys may use."""

    code = "admin_key_required"


class ProjectForbidden(Forbidden):
    """A key used on ``/v1/orgs/{org}/projects/{project}/...`` of a project it does not belong to."""

    code = "project_forbidden"


class ToolAuthorizationRequired(Forbidden):
    code = "tool_authorization_required"


class ToolRequirementsNotMet(Forbidden):
    code = "tool_requirements_not_met"


class ToolNotGranted(Forbidden):
    """A worker's tool that asks for a secret or provider the worker is not granted: not registered."""

    code = "tool_not_granted"


class ToolDeniedByHook(Forbidden):
    """A Contextual Access hook (docs/contextual-access.md) refused the execution; the message
    carries the hook's reason."""

    code = "tool_denied_by_hook"


class HookUnavailable(Forbidden):
    """A fail-closed Contextual Access hook's plugin timed out, failed or answered nonsense: the
    execution is refused rather than run unchecked (docs/contextual-access.md). A refusal by the
    project's own policy, so a 403 like the hook's own refusals, not a server error."""

    code = "hook_unavailable"
    retryable = True


class NotFound(ValetkeyError):
    code = "not_found"
    status = 404


class RouteNotFound(NotFound):
    code = "route_not_found"


class MethodNotAllowed(ValetkeyError):
    code = "method_not_allowed"
    status = 405


class Conflict(ValetkeyError):
    code = "conflict"
    status = 409


class UnsupportedMediaType(ValetkeyError):
    code = "unsupported_media_type"
    status = 415


class ProviderError(ValetkeyError):
    """The OAuth server answered with an error or an unusable response."""

    code = "provider_error"
    status = 502


class InvalidGrant(ProviderError):
    """The grant (code or refresh token) is no longer valid: re-authorization needed."""

    code = "invalid_grant"


class ProviderUnavailable(ProviderError):
    """Timeout, 5xx or 429 from the provider: worth retrying later."""

    code = "provider_unavailable"
    retryable = True


class ServiceUnavailable(ValetkeyError):
    code = "service_unavailable"
    status = 503
    retryable = True


class AnswerTimeout(ServiceUnavailable):
    """The gateway did not answer within ``api.write_timeout``."""

    code = "answer_timeout"


class RequestTimeout(ValetkeyError):
    """The request's body did not arrive within ``api.read_timeout``."""

    code = "request_timeout"
    status = 408


class RateLimited(ValetkeyError):
    """The API key (or the user) made more requests than ``api.rate_limit`` allows in the current
    window; ``retry_after`` is the seconds to the next one (the ``Retry-After`` header)."""

    code = "rate_limited"
    status = 429
    retryable = True

    def __init__(self, message: str, *, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class SealError(ValetkeyError):
    """A bus payload that is not sealed under this engine's bus key, or was altered or moved
    (shared/bus/sealing.py): a misconfiguration (services with different keys) or an attack."""

    code = "bus_payload_refused"


class ConfigError(ValetkeyError):
    """The configuration is invalid; names the file, the key and what is wrong."""

    code = "config_error"

    def __init__(self, message: str, *, file: str = "", key: str = "") -> None:
        where = ": ".join(part for part in (file, key) if part)
        super().__init__(f"{where}: {message}" if where else message)
        self.file = file
        self.key = key
        self.problem = message


_BY_CODE: dict[str, type[ValetkeyError]] = {}


def _register(cls: type[ValetkeyError]) -> None:
    _BY_CODE.setdefault(cls.code, cls)
    for sub in cls.__subclasses__():
        _register(sub)


_register(ValetkeyError)


def error_from_payload(payload: dict[str, Any]) -> ValetkeyError:
    """Rebuild an error sent by another service from its payload.

    Args:
        payload: A dict made by :meth:`ValetkeyError.to_payload`.

    Returns:
        An instance of the class registered for ``payload["name"]``
        (``ValetkeyError`` for unknown codes), with the same message and details.
    """
    body = dict(payload)
    code = str(body.pop("name", ValetkeyError.code))
    message = str(body.pop("message", code))
    cls = _BY_CODE.get(code, ValetkeyError)
    if cls is ConfigError:
        return ValetkeyError(message)
    error = cls(message, **body)
    if cls is ValetkeyError and code != ValetkeyError.code:
        error.details["name"] = code
    return error
