"""No token or secret crosses NATS in clear (issue #11): a listener on every subject, during a
full authorization at the real OAuth server, a refresh on demand, tool executions on a worker
with a tool secret, and the admin writes that carry a client, worker and webhook secret, finds
none of their values in any payload; a captured request moved to another subject is refused."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta

import httpx
import nats
import pytest
from nats.aio.msg import Msg

from shared.bus import subjects
from shared.bus.sealing import MAGIC
from shared.runtime.crypto import Cipher, RootKey
from shared.runtime.redisio import create_redis
from shared.tokens.model import RefreshPolicy
from shared.tokens.store import TokenStore
from tests.support.auth_flows import approve, new_user, start, status
from tests.support.bus_capture import every_message
from tests.support.engine import base_config, running_engine
from tests.support.oauth_server import OAuthClient, start_oauth_server
from tests.support.providers import hooli_provider_entry
from tests.support.worker_app import running_worker
from tools.launcher import embedded

pytestmark = pytest.mark.e2e

CLIENT_SECRET = f"client-secret-{secrets.token_hex(12)}"
WORKER_SECRET = f"worker-secret-{secrets.token_hex(16)}"
TOOL_SECRET = f"tool-secret-{secrets.token_hex(12)}"
SCOPES = ["scope1", "scope2"]


def admin(engine, method: str, path: str, **kwargs) -> httpx.Response:
    response = httpx.request(
        method, f"{engine.base_url}{path}", headers=engine.headers, timeout=60, trust_env=False, **kwargs
    )
    assert response.status_code < 300, response.text
    return response


async def test_a_listener_on_every_subject_reads_no_token_or_secret_and_cannot_move_a_request(
    tmp_path, nats_url, redis_url
):
    root_key = secrets.token_urlsafe(32)
    config = base_config(embedded.free_port(), root_key)
    config["webhooks"] = {"allow_private_targets": True}
    home = tmp_path / "engine"
    with (
        running_worker(WORKER_SECRET) as worker_url,
        running_engine(home, nats_url=nats_url, redis_url=redis_url, config=config) as engine,
    ):
        client = OAuthClient("vk-sealed", [engine.redirect_uri], client_secret=CLIENT_SECRET)
        oauth = start_oauth_server(tmp_path, clients=[client])
        redis = create_redis(redis_url)
        cipher = Cipher([RootKey("k1", root_key, default=True)])
        store = TokenStore(redis, cipher, RefreshPolicy(), prefix=engine.env["VALETKEY_KEY_PREFIX"])
        try:
            async with every_message(nats_url) as seen:
                values = await _everything_that_carries_a_secret(engine, oauth, store, worker_url)
                moved = await _moved_and_tampered(nats_url, seen)
        finally:
            oauth.stop()
            await redis.aclose()

    payloads = [m.data for m in seen]
    sealed = [m for m in seen if m.subject == subjects.AUTH_STATUS]
    assert sealed and all(m.data.startswith(MAGIC) for m in sealed), "the capture saw the status requests"
    assert len(values) == 9 and all(values.values()), values
    for name, value in values.items():
        assert not [p for p in payloads if value.encode() in p], f"{name} crossed NATS in clear"
    for reason in moved:
        assert reason.startswith("bus_payload_refused: the request on vk.tools.execute"), reason


async def _everything_that_carries_a_secret(
    engine, oauth, store: TokenStore, worker_url: str
) -> dict[str, str]:
    """The flows whose requests or replies hold a secret; returns each secret's value by name."""
    provider = hooli_provider_entry(oauth, client_id="vk-sealed", client_secret=CLIENT_SECRET)
    admin(engine, "post", "/v1/admin/auth_providers", json=provider)
    worker = {
        "id": "sealed-worker",
        "http": {"uri": worker_url, "secret": WORKER_SECRET, "timeout": 30, "retry": 1},
    }
    admin(engine, "post", "/v1/workers", json=worker)
    admin(engine, "post", "/v1/admin/secrets/HOOLI_API_KEY", json={"value": TOOL_SECRET})
    hook = admin(engine, "post", "/v1/admin/webhooks", json={"url": "http://127.0.0.1:9/hook"}).json()

    user = new_user("sealed")
    pending = await start(engine, user, provider="hooli", scopes=SCOPES)
    await approve(engine, pending["url"], login=user)
    done = (await status(engine, pending["id"], wait=30)).json()
    assert done["status"] == "completed", done
    granted = await store.get(user, "hooli")
    assert granted is not None and granted.access_token == done["context"]["token"]

    # The executor finds the token expired and asks the refresher for a fresh one over NATS.
    await store.put(
        user, "hooli", granted.model_copy(update={"expires_at": datetime.now(UTC) - timedelta(seconds=5)})
    )
    run = admin(
        engine,
        "post",
        "/v1/tools/execute",
        json={"tool_name": "Hooli.ReticulateSplines", "input": {"num_splines": 2}, "user_id": user},
    ).json()
    assert run["success"] is True, run
    refreshed = await store.get(user, "hooli")
    assert refreshed is not None and refreshed.access_token != granted.access_token
    fingerprint = admin(
        engine,
        "post",
        "/v1/tools/execute",
        json={"tool_name": "Hooli.ReadApiKeyFingerprint", "user_id": user},
    ).json()
    assert fingerprint["success"] is True, fingerprint
    return {
        "access token": granted.access_token,
        "refresh token": granted.refresh_token or "",
        "refreshed access token": refreshed.access_token,
        "rotated refresh token": refreshed.refresh_token or "",
        "client secret": CLIENT_SECRET,
        "worker secret": WORKER_SECRET,
        "tool secret": TOOL_SECRET,
        "webhook secret": hook["secret"],
        "api key": engine.api_key,
    }


async def _moved_and_tampered(nats_url: str, seen: list[Msg]) -> list[str]:
    """A captured status request published on vk.tools.execute as it is, and with one bit flipped:
    the executor's refusals (micro's error header), while nothing runs."""
    captured = next(m.data for m in seen if m.subject == subjects.AUTH_STATUS)
    flipped = captured[:-1] + bytes([captured[-1] ^ 1])
    nc = await nats.connect(nats_url)
    try:
        replies = [await nc.request(subjects.TOOLS_EXECUTE, data, timeout=10) for data in (captured, flipped)]
    finally:
        await nc.close()
    return [(r.headers or {}).get("Nats-Service-Error", "") for r in replies]
