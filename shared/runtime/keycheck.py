"""The key check record: a changed root key is refused at start, not discovered as 500s later.

For every configured root key id, Redis holds ``<prefix>:keycheck:<key id>`` (a webhook key:
``<prefix>:keycheck:webhook:<key id>``, checked by the webhooks service): a known
plaintext sealed under that key. The first service to start with a key id writes it
(``SET NX``, so replicas agree); every later start opens it. A record that does not
open means the key's value changed since data was written under that id, and every
token, secret and pending authorization sealed under it would fail to decrypt: the
service refuses to run, naming the key. Removing a key id (after ``valetkey rotate-keys``) removes
nothing here; a new id writes its own record.
"""

from __future__ import annotations

import asyncio
import os

from redis.asyncio import Redis
from redis.exceptions import RedisError

from shared.errors import ConfigError
from shared.runtime.crypto import ROOT_KEYS, WEBHOOK_KEYS, Cipher, DecryptionError, KeyFamily
from shared.runtime.keyspace import Keyspace, check_marker
from shared.runtime.logging import get_logger

log = get_logger(__name__)

_AAD = b"valetkey:keycheck"
_PLAINTEXT = b"valetkey root key check v1"
RETRY_S = 1.0


def record_key(prefix: str, key_id: str, family: KeyFamily = ROOT_KEYS) -> str:
    if family == WEBHOOK_KEYS:
        return f"{prefix}:keycheck:webhook:{key_id}"
    return f"{prefix}:keycheck:{key_id}"


async def verify(
    redis: Redis, cipher: Cipher, *, prefix: str, file: str = "", keyspace: Keyspace | None = None
) -> None:
    """Write the records of new key ids, open those of known ones; with ``keyspace``, check the
    shard count the data was written with first (:func:`shared.runtime.keyspace.check_marker`).

    Raises:
        ConfigError: A key's record does not open: its value is not the one data was written with;
            or the data was written with another shard count.
        RedisError: Redis is not reachable (the caller decides whether to wait).
    """
    if keyspace is not None:
        await check_marker(redis, keyspace, file=file)
    for index, key_id in enumerate(cipher.key_ids):
        name = record_key(prefix, key_id, cipher.family)
        await redis.set(name, cipher.encrypt(_PLAINTEXT, aad=_AAD, key_id=key_id), nx=True)
        stored = await redis.get(name)
        if stored is None:  # removed between the two calls: written again on the next start
            continue
        try:
            opens = cipher.decrypt(stored, aad=_AAD) == _PLAINTEXT
        except DecryptionError:
            opens = False
        if not opens:
            raise ConfigError(
                f"{cipher.family.noun} {key_id!r} is not the key this deployment's data was encrypted with "
                f"(its check record {name} does not open); restore the old value, or add the new "
                "value under a new key id and keep the old one until `valetkey rotate-keys` has run",
                file=file,
                key=f"{cipher.family.section}[{index}].value",
            )


async def verify_at_start(
    redis: Redis, cipher: Cipher, *, prefix: str, file: str = "", keyspace: Keyspace | None = None
) -> asyncio.Task[None] | None:
    """Check now; if Redis is not up yet, keep checking in the background until it answers.

    A mismatch found now raises :class:`ConfigError` (the service exits with code 2 and the
    message); one found later, once Redis came up, ends the process the same way.
    """
    try:
        await verify(redis, cipher, prefix=prefix, file=file, keyspace=keyspace)
        return None
    except (RedisError, OSError):
        log.warning("keycheck.redis_unavailable", retry_in_s=RETRY_S)
    return asyncio.create_task(
        _verify_when_reachable(redis, cipher, prefix=prefix, file=file, keyspace=keyspace)
    )


async def _verify_when_reachable(
    redis: Redis, cipher: Cipher, *, prefix: str, file: str, keyspace: Keyspace | None
) -> None:
    while True:
        await asyncio.sleep(RETRY_S)
        try:
            await verify(redis, cipher, prefix=prefix, file=file, keyspace=keyspace)
            return
        except (RedisError, OSError):
            continue
        except ConfigError as exc:
            log.critical("keycheck.mismatch", error=str(exc))
            print(f"valetkey: configuration error: {exc}", flush=True)
            os._exit(2)  # nothing can be decrypted with this key: serving on would only fail
