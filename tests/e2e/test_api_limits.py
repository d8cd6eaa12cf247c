"""engine.yaml ``api``'s limits change what the gateway does, as Arcade's format says they do:
the body size, the read, write and idle timeouts, and a rate limit per API key shared by two
gateway replicas through Redis. Real processes, real sockets.
"""

from __future__ import annotations

import asyncio
import secrets
import socket
import time
from collections.abc import Iterator
from types import SimpleNamespace

import httpx
import pytest

from tests.support.engine import Engine, base_config, running_engine
from tests.support.providers import oidc_provider_entry
from tools.launcher import embedded

pytestmark = pytest.mark.e2e

ENDPOINTS = ("authorize", "token", "userinfo")
LIMIT = 6  # requests per key per minute
USER_LIMIT = 3  # requests per user per minute, whatever key
BUSY_USER_KEYS = ["vk_test_first_key_of_a_busy_user", "vk_test_second_key_of_a_busy_user"]
OTHER_KEY = "vk_test_other_key_of_default"
SPENT_KEY = "vk_test_key_spent_by_the_rate_test"
API = {
    "max_request_body_size": "1Kb",
    "read_timeout": "1s",
    "write_timeout": "3s",
    "idle_timeout": "1s",
    "rate_limit": {"limit": LIMIT, "time_unit": "m", "user_limit": USER_LIMIT},
    "keys": [{"key": OTHER_KEY}, {"key": SPENT_KEY}, *({"key": k} for k in BUSY_USER_KEYS)],
}


@pytest.fixture(scope="module")
def engine(tmp_path_factory, nats_url, redis_url) -> Iterator[tuple[Engine, str]]:
    port, second = embedded.free_port(), embedded.free_port()
    config = base_config(port, secrets.token_urlsafe(32))
    config["api"] |= API
    config["tools"]["toolkits"] = ["tests.support.toolkits.hooli"]
    # A provider whose consent page nobody opens: its flows stay pending.
    nowhere = SimpleNamespace(**{f"{e}_endpoint": f"https://acme.example/{e}" for e in ENDPOINTS})
    config["auth"]["providers"] = [oidc_provider_entry(nowhere, id="acme", client_id="c", client_secret="s")]
    config["telemetry"] = {"environment": "local", "logging": {"level": "info"}}
    with running_engine(
        tmp_path_factory.mktemp("limits"), nats_url=nats_url, redis_url=redis_url, config=config
    ) as running:
        # The second gateway takes its log level and format from telemetry (no VALETKEY_LOG_* set).
        for variable in ("VALETKEY_LOG_JSON", "VALETKEY_LOG_LEVEL"):
            del running.env[variable]
        running.start_service("gateway", replica=2, extra_env={"VALETKEY_HTTP_PORT": str(second)})
        deadline = time.monotonic() + 60
        while not embedded.port_in_use(second):
            assert time.monotonic() < deadline, running.tail("gateway-2")
            time.sleep(0.1)
        yield running, f"http://127.0.0.1:{second}"


def _headers(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def _raw(engine: Engine, request: bytes) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", engine.port), timeout=10)
    sock.sendall(request)
    return sock


def _status_line(sock: socket.socket) -> bytes:
    """Read one whole response (its headers, then Content-Length bytes); its status line."""
    data = b""
    while b"\r\n\r\n" not in data:
        data += sock.recv(65536)
    head, _, body = data.partition(b"\r\n\r\n")
    length = next(
        (
            int(line.split(b":")[1])
            for line in head.split(b"\r\n")
            if line.lower().startswith(b"content-length")
        ),
        0,
    )
    while len(body) < length:
        body += sock.recv(65536)
    return head.split(b"\r\n", 1)[0]


class TestBodyAndTimeouts:
    def test_a_body_over_max_request_body_size_is_413_naming_the_limit(self, engine):
        running, _ = engine
        body = {"tool_name": "Hooli.Ping", "user_id": "u", "input": {"pad": "x" * 2000}}
        answer = httpx.post(f"{running.base_url}/v1/tools/execute", json=body, headers=_headers(OTHER_KEY))
        assert answer.status_code == 413
        assert answer.json() == {
            "name": "payload_too_large",
            "message": "request body larger than 1024 bytes",
        }

    def test_a_body_slower_than_read_timeout_is_408(self, engine):
        running, _ = engine
        head = (
            "POST /v1/tools/execute HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            f"Authorization: Bearer {OTHER_KEY}\r\nContent-Length: 200\r\n\r\n"
        )
        sock = _raw(running, head.encode() + b'{"tool_name": ')  # and then nothing for 3 s
        try:
            assert _status_line(sock) == b"HTTP/1.1 408 Request Timeout"
        finally:
            sock.close()

    def test_a_request_not_answered_within_write_timeout_is_cut_off_with_a_retryable_503(self, engine):
        running, _ = engine
        body = {"tool_name": "Hooli.Nap", "user_id": "u", "input": {"seconds": 6}}
        started = time.monotonic()
        answer = httpx.post(
            f"{running.base_url}/v1/tools/execute", json=body, headers=_headers(OTHER_KEY), timeout=30
        )
        assert answer.status_code == 503 and answer.json()["name"] == "answer_timeout", answer.text
        assert answer.headers["x-should-retry"] == "true"
        assert time.monotonic() - started < 6  # cut off, not waited out

    def test_a_long_poll_answers_pending_before_write_timeout_would_cut_it_off(self, engine):
        running, _ = engine
        start = {"user_id": "waiter", "auth_requirement": {"provider_id": "acme"}}
        pending = httpx.post(f"{running.base_url}/v1/auth/authorize", json=start, headers=running.headers)
        assert pending.status_code == 200 and pending.json()["status"] == "pending", pending.text
        started = time.monotonic()
        answer = httpx.get(
            f"{running.base_url}/v1/auth/status",
            params={"id": pending.json()["id"], "wait": 59},
            headers=running.headers,
            timeout=30,
        )
        assert answer.status_code == 200 and answer.json()["status"] == "pending", answer.text
        assert 1.5 < time.monotonic() - started < 3  # waited write_timeout less a second

    def test_a_connection_idle_longer_than_idle_timeout_is_closed_by_the_gateway(self, engine):
        running, _ = engine
        sock = _raw(running, b"GET /livez HTTP/1.1\r\nHost: x\r\n\r\n")
        try:
            assert _status_line(sock) == b"HTTP/1.1 200 OK"
            sock.settimeout(10)
            idle = time.monotonic()
            assert sock.recv(1) == b""  # the server closed it
            assert time.monotonic() - idle < 5
        finally:
            sock.close()


async def _inside_one_window(seconds_needed: float = 10.0) -> None:
    """Start a burst where the minute's fixed window has room for it: a burst across a window's
    edge would count in two windows."""
    left = 60 - time.time() % 60
    if left < seconds_needed:
        await asyncio.sleep(left + 0.5)


class TestRateLimit:
    async def test_a_key_over_its_limit_gets_429_with_retry_after_from_every_replica_another_key_does_not(
        self, engine
    ):
        running, second = engine
        await _inside_one_window()
        async with httpx.AsyncClient(timeout=10) as http:
            answers = [
                await http.get(f"{base}/v1/tools", params={"limit": 1}, headers=_headers(SPENT_KEY))
                for base in [running.base_url, second] * LIMIT
            ]
            other = await http.get(f"{second}/v1/tools", params={"limit": 1}, headers=_headers(OTHER_KEY))
        codes = [a.status_code for a in answers]
        assert codes[:LIMIT] == [200] * LIMIT and codes[LIMIT:] == [429] * LIMIT, codes
        refused = answers[-1]
        assert refused.json()["name"] == "rate_limited"
        assert 1 <= int(refused.headers["Retry-After"]) <= 60
        assert other.status_code == 200


class TestTelemetry:
    def test_telemetry_sets_the_level_and_format_where_no_variable_does(self, engine):
        running, _ = engine
        mine = running.log_path("gateway-2").read_text()
        assert "http.request" in mine and '"http.request"' not in mine  # console lines, not JSON
        assert "gateway.limits" not in mine  # a DEBUG line: below telemetry's info
        theirs = running.log_path("gateway").read_text()  # VALETKEY_LOG_JSON and _LEVEL win there
        assert '"http.request"' in theirs and '"gateway.limits"' in theirs

    async def test_a_user_over_user_limit_gets_429_whichever_key_and_replica_asks_for_them(self, engine):
        running, second = engine
        body = {"tool_name": "Hooli.Ping", "user_id": "busy-user"}
        await _inside_one_window()
        async with httpx.AsyncClient(timeout=10) as http:
            codes = [
                (await http.post(f"{base}/v1/tools/authorize", json=body, headers=_headers(key))).status_code
                for base, key in zip([running.base_url, second] * 3, BUSY_USER_KEYS * 3, strict=True)
            ]
            calm = await http.post(
                f"{running.base_url}/v1/tools/authorize",
                json={**body, "user_id": "calm-user"},
                headers=_headers(BUSY_USER_KEYS[0]),
            )
        assert codes == [200] * USER_LIMIT + [429] * (6 - USER_LIMIT), codes
        assert calm.status_code == 200
