"""A use case that meets Redis away (or a Redis Cluster moving a slot) is answered 503
``service_unavailable``, retryable, once a service has built a Redis client; anything else
unexpected stays an internal error."""

from __future__ import annotations

import json

from pydantic import BaseModel
from redis.exceptions import (
    ClusterDownError,
    ClusterError,
    ConnectionError,
    ReadOnlyError,
    RedisClusterException,
)

from shared.bus.messaging import answer
from shared.runtime.redisio import create_redis


class Nothing(BaseModel):
    pass


def _failing(error: Exception):
    async def use_case(_: Nothing) -> None:
        raise error

    return use_case


async def _error_of(error: Exception) -> dict:
    reply = await answer(Nothing, b"{}", _failing(error))
    return json.loads(reply.data)["error"]


async def test_redis_away_is_a_retryable_503_once_a_client_exists():
    create_redis("redis://127.0.0.1:1/0")  # what every service with a store does at start
    for error in (ConnectionError("refused"), ClusterDownError("down"), ReadOnlyError("replica")):
        found = await _error_of(error)
        assert found["name"] == "service_unavailable", found


async def test_another_unexpected_error_stays_an_internal_error():
    assert (await _error_of(KeyError("x")))["name"] == "internal_error"


async def test_the_redis_clients_own_state_failing_during_a_failover_is_a_503_too():
    create_redis("redis://127.0.0.1:1/0")

    async def torn_down(_: Nothing) -> None:
        from redis.asyncio.connection import Connection

        connection = Connection()
        await connection._send_packed_command([b"PING"])  # no writer: the transport was torn down

    reply = await answer(Nothing, b"{}", torn_down)
    assert json.loads(reply.data)["error"]["name"] == "service_unavailable"


async def test_the_cluster_client_rebuilding_its_view_mid_failover_is_a_503():
    create_redis("redis://127.0.0.1:1/0")
    rebuilding = (
        RedisClusterException(
            "All slots are not covered after query all startup_nodes. 10923 of 16384 covered..."
        ),
        RedisClusterException(
            "Redis Cluster cannot be connected. Please provide at least one reachable node"
        ),
        ClusterError("TTL exhausted."),
    )
    for error in rebuilding:
        found = await _error_of(error)
        assert found["name"] == "service_unavailable", (error, found)


async def test_a_mistake_in_a_cluster_call_stays_an_internal_error():
    create_redis("redis://127.0.0.1:1/0")
    found = await _error_of(RedisClusterException("No targets were found to execute ('GET',) command on"))
    assert found["name"] == "internal_error"


async def test_a_closed_transport_below_the_client_during_a_failover_is_a_503_too():
    create_redis("redis://127.0.0.1:1/0")

    class ClosedTransportWriter:  # uvloop's transport raises this when the socket was torn down
        def writelines(self, _: object) -> None:
            raise RuntimeError("unable to perform operation on <TCPTransport closed=True>")

    async def torn_down(_: Nothing) -> None:
        from redis.asyncio.connection import Connection

        connection = Connection()
        connection._writer = ClosedTransportWriter()  # type: ignore[assignment]
        try:
            await connection._send_packed_command([b"PING"])
        finally:
            connection._writer = None  # nothing for the connection's own cleanup to close

    reply = await answer(Nothing, b"{}", torn_down)
    assert json.loads(reply.data)["error"]["name"] == "service_unavailable"
