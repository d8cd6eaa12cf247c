"""A tiny local OAuth token endpoint that answers in the odd shapes real providers use.

Each path is one shape; every request is recorded (path and form body) so tests can
assert what the engine sent. Nothing here validates codes: it is a response-shape fake.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl

ACCESS = "shape-access-token"

SHAPES: dict[str, tuple[str, bytes]] = {
    # GitHub classic: form-encoded, comma-separated scopes, no expiry, no refresh token.
    "/form": (
        "application/x-www-form-urlencoded",
        f"access_token={ACCESS}-form&token_type=bearer&scope=repo%2Cgist".encode(),
    ),
    # Everything nested under "data": needs a JSONPath response_map.
    "/nested": (
        "application/json",
        json.dumps(
            {
                "data": {
                    "access_token": f"{ACCESS}-nested",
                    "refresh_token": "nested-refresh",
                    "expires_in": 7200,
                    "scope": "alpha beta",
                }
            }
        ).encode(),
    ),
    # Scopes as a JSON array: response_map joins them.
    "/array": (
        "application/json",
        json.dumps(
            {"access_token": f"{ACCESS}-array", "expires_in": 3600, "scopes": ["one", "two"]}
        ).encode(),
    ),
    # Only the required field: no expires_in, no scope.
    "/minimal": ("application/json", json.dumps({"access_token": f"{ACCESS}-minimal"}).encode()),
}


@dataclass
class TokenEndpoint:
    """Serves :data:`SHAPES` on a free loopback port while used as a context manager."""

    requests: list[tuple[str, dict[str, str]]] = field(default_factory=list)

    def __post_init__(self) -> None:
        endpoint = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                body = dict(parse_qsl(self.rfile.read(length).decode()))
                endpoint.requests.append((self.path, body))
                content_type, payload = SHAPES.get(self.path, ("application/json", b'{"error":"nope"}'))
                self.send_response(200 if self.path in SHAPES else 400)
                self.send_header("content-type", content_type)
                self.send_header("content-length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def __enter__(self) -> TokenEndpoint:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()


def shape_provider(endpoint: TokenEndpoint, shape: str, **token_request: Any) -> dict[str, Any]:
    """A custom provider whose token endpoint answers with ``shape``."""
    return {
        "id": f"shape-{shape.strip('/')}",
        "type": "oauth2",
        "client_id": "shape-client",
        "client_secret": "shape-secret",
        "oauth2": {
            "authorize_request": {
                "endpoint": f"{endpoint.url}/authorize",  # never opened: tests call the callback directly
                "params": {"response_type": "code", "client_id": "{{client_id}}", "scope": "{{scopes}}"},
            },
            "token_request": {
                "endpoint": f"{endpoint.url}{shape}",
                "auth_method": "client_secret_basic",
                "params": {"grant_type": "authorization_code", "redirect_uri": "{{redirect_uri}}"},
                **token_request,
            },
        },
    }
