"""Structured logging with redaction, configured once per process.

JSON lines off a TTY, readable lines on one. Every event passes :func:`redact`
first, which masks values under secret-looking keys (tokens, secrets, codes,
verifiers, states, passwords, API keys, Authorization headers) at any depth,
and scrubs secrets embedded in strings: ``Bearer ...`` values and
``code=``/``access_token=``-style query parameters in URLs. Standard-library
loggers (uvicorn, faststream, httpx) are routed through the same processors.
"""

from __future__ import annotations

import functools
import itertools
import json
import logging
import re
import sys
import threading
from collections.abc import Callable, Mapping, MutableMapping
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

# What every name ``_QUERY_SECRET`` looks for ends with: without one of these, it cannot match
# (a request line's ``id=...`` query skips the regex).
_QUERY_SECRET_ENDS = ("code=", "state=", "token=", "secret=", "verifier=", "flow_id=")

# A secret quoted inside text: JSON (``"access_token": "…"``), a Python repr
# (``'clientSecret': '…'``) or keyword form (``refresh_token='…'``), any spelling of the name.
_EMBEDDED_SECRET = re.compile(
    r"""(?ix)
    (["']?(?:access_?token|refresh_?token|id_?token|client_?secret|code_?verifier|api_?key|password|
    secret|token)["']?\s*[:=]\s*)
    (["'])(?!\[REDACTED\])[^"']+\2
    """
)
_CAMEL_HUMP = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")


@functools.lru_cache(maxsize=4096)
def _is_secret_key(key: str) -> bool:
    # Field names repeat from line to line: each is judged once. camelCase names
    # (``accessToken``, ``clientSecret``) are judged as their snake_case spelling.
    snake = _CAMEL_HUMP.sub("_", key).lower()
    return key.lower() not in _SAFE_KEYS and snake not in _SAFE_KEYS and bool(_SECRET_KEY.search(snake))


def _scrub_text(text: str) -> str:
    # Most values hold neither a credential scheme nor a "=" nor a secret's name: skip the regexes.
    lowered = text.lower()
    if "bearer" in lowered or "basic" in lowered:
        text = _BEARER.sub(rf"\1 {MASK}", text)
    if "=" in text and any(name in lowered for name in _QUERY_SECRET_ENDS):
        text = _QUERY_SECRET.sub(rf"\1{MASK}", text)
    if ("token" in lowered or "secret" in lowered or "password" in lowered or "key" in lowered) and (
        ":" in text or "=" in text
    ):
        text = _EMBEDDED_SECRET.sub(rf"\1\2{MASK}\2", text)
    return text


# Values with nothing inside to walk: most fields of a line. Exact types, so that a subclass
# (an enum, a str subclass) takes the general way below.
_SCALARS = frozenset({int, float, bool})


def redact(value: Any, key: str = "") -> Any:
    """Return ``value`` with secrets masked; dicts and lists are walked recursively."""
    # The common kinds first, without the ABC checks below (each line's fields pass here:
    # redaction was about half of a request line's CPU, docs/performance.md).
    kind = type(value)
    if kind is str:
        return MASK if value and key and _is_secret_key(key) else _scrub_text(value)
    if kind in _SCALARS:
        return MASK if key and _is_secret_key(key) else value
    if value is None:
        return None
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


# One answered request's INFO line in this many (``VALETKEY_REQUEST_LOG_SAMPLE``); 1: every one.
_request_sample = 1
_requests_seen = itertools.count()


def sample_request_lines(every: int) -> None:
    """Write one answered request's INFO line in ``every`` (1: all of them, the default).

    Such a line costs ~15 µs of a hot request's CPU (docs/performance.md); a deployment that
    counts requests in its metrics may keep only a sample. A failed request's line is never
    skipped: callers ask :func:`request_line_due` only for the answered ones.
    """
    global _request_sample
    _request_sample = max(1, every)


def request_line_due() -> bool:
    """Whether this answered request's INFO line is written (every one unless sampled)."""
    return _request_sample == 1 or next(_requests_seen) % _request_sample == 0


def redaction_processor(
    _logger: Any, _method: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """structlog processor applying :func:`redact` to every field of a log event."""
    return {k: (v if k in ("timestamp", "level", "logger") else redact(v, k)) for k, v in event_dict.items()}


_encoders: dict[Callable[[Any], Any], json.JSONEncoder] = {}


def _dumps(value: Any, *, default: Callable[[Any], Any]) -> str:
    """``json.dumps(value, default=default)``, the same text, with the encoder built once for
    each ``default`` (structlog's fallback) rather than for every line."""
    encoder = _encoders.get(default)
    if encoder is None:
        encoder = _encoders[default] = json.JSONEncoder(default=default)
    return encoder.encode(value)


class _StderrLines:
    """Where structlog writes our lines: one write per line to the *current* ``sys.stderr``
    (resolved per line, as the standard library's handler does not, so a swapped stream
    is followed), under a lock, carrying the logger's name for ``add_logger_name``."""

    _lock = threading.Lock()

    def __init__(self, *args: Any) -> None:
        self.name = str(args[0]) if args else ""

    def msg(self, message: str) -> None:
        with self._lock:
            sys.stderr.write(message + "\n")
            sys.stderr.flush()

    debug = info = warning = warn = error = err = critical = exception = fatal = failure = log = msg


def add_trace_ids(
    _logger: Any, _method: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """structlog processor adding ``trace_id`` and ``span_id`` inside a sampled span."""
    from shared.runtime.tracing import current_ids

    ids = current_ids()
    if ids is not None:
        event_dict["trace_id"], event_dict["span_id"] = ids
    return event_dict


def _foreign_processors(trace_ids: bool) -> list[Any]:
    """What a standard-library record (uvicorn, faststream, httpx) goes through before rendering."""
    return [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_logger_name,
        structlog.stdlib.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.stdlib.ExtraAdder(),
        *([add_trace_ids] if trace_ids else []),
    ]


def configure_logging(
    *, service: str, level: str = "INFO", json_output: bool | None = None, trace_ids: bool = False
) -> None:
    """Configure structlog and the standard library once for this process.

    Our own events go the short way, structlog straight to stderr (about a quarter of the
    cost of a trip through the standard library); other libraries' records go through
    the standard library into the same redaction and renderer.

    Args:
        service: Bound on every line as ``service``.
        level: Minimum level name.
        json_output: JSON lines when true, console when false; default: JSON unless stderr is a TTY.
        trace_ids: Add the current span's ``trace_id``/``span_id`` to each line (tracing is on).
    """
    as_json = (not sys.stderr.isatty()) if json_output is None else json_output
    renderer: Any = (
        structlog.processors.JSONRenderer(serializer=_dumps)
        if as_json
        else structlog.dev.ConsoleRenderer(colors=False)
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.stdlib.add_logger_name,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            *([add_trace_ids] if trace_ids else []),
            # Tracebacks become text first, so the redaction sees them too.
            structlog.processors.format_exc_info,
            redaction_processor,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level.upper())),
        logger_factory=_StderrLines,
        cache_logger_on_first_use=True,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=_foreign_processors(trace_ids),
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info,
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
    """A structlog logger naming its module as ``logger``; configured once in each ``__main__``."""
    return structlog.get_logger(name)
