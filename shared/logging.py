"""Structured logging with redaction, configured once per process.

JSON lines off a TTY, readable lines on one. Every event passes :func:`redact`
first, which masks values under secret-looking keys (tokens, secrets, codes,
verifiers, states, passwords, API keys, Authorization headers) at any depth,
and scrubs secrets embedded in strings: ``Bearer ...`` values and
``code=``/``access_token=``-style query parameters in URLs. Standard-library
loggers (uvicorn, faststream, httpx) are routed through the same processors.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Mapping, MutableMapping
from typing import Any

import structlog

MASK = "[REDACTED]"

_SECRET_KEY = re.compile(
    r"(^|_|-)(token|secret|password|passwd|code|verifier|state|api_?key|authorization|cookie|"
    r"assertion|credentials?|root_keys?|value)($|_|-)|access_token|refresh_token|id_token|"
    r"client_secret|code_verifier",
    re.IGNORECASE,
)
# Keys that match the pattern above but carry no secret.
_SAFE_KEYS = frozenset(
    {
        "status_code",
        "token_type",
        "token_status",
        "error_code",
        "code_challenge_method",
        "event",
        "level",
        "authorization_id",
        "auth_id",
        "token_endpoint",
        "expires_at",
        "key_id",
        "state_ttl",
    }
)
_BEARER = re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]+")
_QUERY_SECRET = re.compile(
    # ``^`` too: request loggers pass the bare query string, where the first pair has no ``?``.
    r"(?i)((?:^|[?&#])(?:code|state|access_token|refresh_token|id_token|client_secret|code_verifier|"
    r"token|flow_id)=)[^&#\s\"']+"
)


def _is_secret_key(key: str) -> bool:
    return key.lower() not in _SAFE_KEYS and bool(_SECRET_KEY.search(key))


def _scrub_text(text: str) -> str:
    return _QUERY_SECRET.sub(rf"\1{MASK}", _BEARER.sub(rf"\1 {MASK}", text))


def redact(value: Any, key: str = "") -> Any:
    """Return ``value`` with secrets masked; dicts and lists are walked recursively."""
    secret = key and _is_secret_key(key) and value not in (None, "", [], {})
    if secret and not isinstance(value, Mapping | list | tuple):
        return MASK
    if isinstance(value, Mapping):
        return {k: redact(v, str(k)) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [redact(v, key) for v in value]
    if isinstance(value, str):
        return _scrub_text(value)
    return value


def redaction_processor(
    _logger: Any, _method: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """structlog processor applying :func:`redact` to every field of a log event."""
    return {k: (v if k in ("timestamp", "level", "logger") else redact(v, k)) for k, v in event_dict.items()}


def _shared_processors() -> list[Any]:
    return [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_logger_name,
        structlog.stdlib.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.stdlib.ExtraAdder(),
        redaction_processor,
    ]


def configure_logging(*, service: str, level: str = "INFO", json_output: bool | None = None) -> None:
    """Configure structlog and the standard library once for this process.

    Args:
        service: Bound on every line as ``service``.
        level: Minimum level name.
        json_output: JSON lines when true, console when false; default: JSON unless stderr is a TTY.
    """
    as_json = (not sys.stderr.isatty()) if json_output is None else json_output
    renderer: Any = (
        structlog.processors.JSONRenderer() if as_json else structlog.dev.ConsoleRenderer(colors=False)
    )
    structlog.configure(
        processors=[
            structlog.stdlib.filter_by_level,  # drop below-level events before any work is done
            *_shared_processors(),
            structlog.processors.format_exc_info if as_json else structlog.processors.StackInfoRenderer(),
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=_shared_processors(),
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            redaction_processor,
            renderer,
        ],
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # httpx logs full request URLs at INFO; keep them at WARNING (they are redacted anyway).
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("uvicorn.access").disabled = True
    structlog.contextvars.bind_contextvars(service=service)


def get_logger(name: str) -> Any:
    """A structlog logger; configuration happens once in each service's ``__main__``."""
    return structlog.get_logger(name)
