"""`valetkey rotate-keys` speed: records re-encrypted per second on a local Valkey.

Writes ``--connections`` tokens under an old root key (plus nothing else), then times
:func:`tools.rotate_keys.rotate` making a new key the default. Run:
``python -m bench rotate_keys [-- --connections 20000]``. Numbers, no assertions.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from shared.runtime.crypto import WEBHOOK_KEYS, Cipher, RootKey
from shared.runtime.redisio import create_redis
from shared.tokens.model import RefreshPolicy, StoredToken
from shared.tokens.store import TokenStore
from tools.launcher import embedded
from tools.rotate_keys import rotate

OLD = RootKey("old", "bench-old-root-key-value-000001", default=True)
NEW = RootKey("new", "bench-new-root-key-value-000002", default=True)


async def _measure(redis_url: str, connections: int) -> dict[str, Any]:
    redis = create_redis(redis_url)
    try:
        store = TokenStore(redis, Cipher([OLD]), RefreshPolicy(), prefix="bench")
        now = datetime.now(UTC)
        token = StoredToken(
            access_token="at", refresh_token="rt", issued_at=now, expires_at=now + timedelta(hours=1)
        )
        for start in range(0, connections, 500):
            await asyncio.gather(
                *(store.put(f"u{n}", "p", token) for n in range(start, min(start + 500, connections)))
            )
        both = Cipher([NEW, RootKey(OLD.id, OLD.value)])
        started = time.perf_counter()
        # No webhook endpoints here: their key is named, not used.
        webhooks = Cipher([RootKey("w1", "bench-webhook-key-value-000003", default=True)], WEBHOOK_KEYS)
        tally = await rotate(redis, both, webhook_cipher=webhooks, prefix="bench", show_progress=False)
        seconds = time.perf_counter() - started
    finally:
        await redis.aclose()
    return {
        "connections": connections,
        "resealed": tally.total_resealed,
        "seconds": round(seconds, 3),
        "records_per_s": round(tally.total_resealed / seconds),
    }


def main(argv: list[str]) -> dict[str, Any]:
    parser = argparse.ArgumentParser(prog="bench rotate_keys")
    parser.add_argument("--connections", type=int, default=20_000)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="vk-bench-rotate-") as tmp:
        port = embedded.free_port()
        valkey = embedded.start_valkey(port, Path(tmp) / "valkey", persistent=False)
        try:
            embedded.wait_for_port(port, valkey, name="valkey")
            result = asyncio.run(_measure(f"redis://127.0.0.1:{port}/0", args.connections))
        finally:
            embedded.stop(valkey)
    print(result)
    return result
