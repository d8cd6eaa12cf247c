"""Support for the webhook e2e tests: the gateway and the webhooks service as processes, event
publishing, and a real HTTP receiver on loopback that records every request and answers as scripted.

The receiver runs uvicorn in a thread, so the webhooks service (a separate process) reaches it
over TCP exactly as it would reach a customer's endpoint.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import nats
import uvicorn
from standardwebhooks import Webhook

from services.webhooks.domain import new_secret
from shared.contracts.events import AuthorizationCompleted, Event
from tests.support.deadlines import PROCESS_START_S
from tests.support.engine import Engine, base_config, make_engine
from tools.launcher import embedded


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    at: float
    status: int = 0

    @property
    def webhook_id(self) -> str:
        return self.headers.get("webhook-id", "")

    def verifies_with(self, secret: str) -> bool:
        """The independent check: the standardwebhooks package accepts the request."""
        try:
            Webhook(secret).verify(self.body, self.headers)
        except Exception:
            return False
        return True


Script = Callable[["Receiver", Received], tuple[int, dict[str, str]]]


def always(status: int, headers: dict[str, str] | None = None) -> Script:
    return lambda _r, _req: (status, headers or {})


def fail_first(times: int, status: int = 500) -> Script:
    """Fail the first ``times`` attempts of each webhook id, then accept."""

    def script(receiver: Receiver, req: Received) -> tuple[int, dict[str, str]]:
        seen = sum(1 for r in receiver.on(req.path) if r.webhook_id == req.webhook_id)
        return (status if seen <= times else 200), {}

    return script


@dataclass
class Receiver:
    port: int = field(default_factory=embedded.free_port)
    scripts: dict[str, Script] = field(default_factory=dict)
    delays: dict[str, float] = field(default_factory=dict)
    received: list[Received] = field(default_factory=list)
    _lock: threading.RLock = field(default_factory=threading.RLock)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def on(self, path: str) -> list[Received]:
        with self._lock:
            return [r for r in self.received if r.path == path]

    def ids(self, path: str) -> set[str]:
        return {r.webhook_id for r in self.on(path)}

    def accepted(self, path: str) -> set[str]:
        """Ids this receiver answered with a 2xx."""
        return {r.webhook_id for r in self.on(path) if 200 <= r.status < 300}

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        body = b""
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return  # cut off mid-request (the sender died): no application ever sees it
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        headers = {k.decode(): v.decode() for k, v in scope["headers"]}
        req = Received(scope["path"], headers, body, time.time())
        if delay := self.delays.get(req.path):
            await asyncio.sleep(delay)
        with self._lock:
            self.received.append(req)
            status, extra = self.scripts.get(req.path, always(200))(self, req)
            req.status = status
        raw = [(k.encode(), v.encode()) for k, v in extra.items()]
        await send({"type": "http.response.start", "status": status, "headers": raw})
        await send({"type": "http.response.body", "body": b"ok"})


class RunningReceiver:
    """uvicorn serving a :class:`Receiver` in a background thread."""

    def __init__(self, receiver: Receiver) -> None:
        config = uvicorn.Config(
            receiver, host="127.0.0.1", port=receiver.port, log_level="warning", access_log=False
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> RunningReceiver:
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started and time.monotonic() < deadline:
            time.sleep(0.01)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(10)


SECRET = new_secret()
FAST_RETRIES = {
    "allow_private_targets": True,
    "timeout_seconds": 1.5,
    "retry_window_seconds": 3,
    "backoff_base_seconds": 0.2,
    "backoff_max_seconds": 1,
}


def endpoint(id_: str, url: str, events: list[str] | None = None) -> dict[str, Any]:
    return {"id": id_, "url": url, "secret": SECRET, "events": events or ["*"]}


# The admin API is the gateway's; delivery and the endpoints are the webhooks service's.
SERVICES = ("gateway", "webhooks")


def start_services(engine: Engine, *services: str, timeout: float = PROCESS_START_S) -> None:
    """Start ``services`` (both by default); the admin API answering means both are ready."""
    for service in services or SERVICES:
        engine.start_service(service)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for service in SERVICES:
            assert engine.procs[service].poll() is None, engine.tail(service)
        try:
            if httpx.get(f"{engine.base_url}/v1/admin/webhooks", headers=engine.headers).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise AssertionError("webhook admin API not ready\n" + "\n".join(engine.tail(s) for s in SERVICES))


@asynccontextmanager
async def webhook_engine(
    tmp_path: Path, nats_url: str, redis_url: str, **webhooks: Any
) -> AsyncIterator[Engine]:
    """The gateway and the webhooks service with ``webhooks`` as their ``engine.yaml`` section."""
    config = base_config(0, "r" * 32)
    engine = make_engine(tmp_path, nats_url=nats_url, redis_url=redis_url)
    config["api"] = engine.config["api"]
    config["security"] = engine.config["security"]
    engine.config = {**config, "webhooks": webhooks}
    engine.write_config()
    start_services(engine)
    try:
        yield engine
    finally:
        engine.stop()
    engine.assert_clean()


async def publish(nats_url: str, events: list[Event]) -> None:
    """Publish to JetStream the way the outbox relay does."""
    nc = await nats.connect(nats_url)
    js = nc.jetstream()
    try:
        await asyncio.gather(
            *(
                js.publish(e.subject, e.model_dump_json().encode(), headers={"Nats-Msg-Id": e.event_id})
                for e in events
            )
        )
    finally:
        await nc.close()


async def until(check: Callable[[], bool], timeout: float = 20, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


def admin(engine: Engine, method: str, path: str, **kwargs: Any) -> httpx.Response:
    url = f"{engine.base_url}/v1/admin/webhooks{path}"
    return httpx.request(method, url, headers=kwargs.pop("headers", engine.headers), timeout=10, **kwargs)


def completed(user: str = "u1") -> AuthorizationCompleted:
    return AuthorizationCompleted(
        user_id=user, provider_id="github", authorization_id="ac_1", scopes=["repo"]
    )
