"""Who may publish and subscribe what on NATS: one user per service, least privilege.

docs/nats.md ("Credentials") explains it for operators.

This module is the only statement of the matrix. The launcher renders it into the embedded
nats-server's configuration, the test kit starts its servers with it, and an operator running
their own NATS renders the same block (``python -m shared.bus.permissions``).

The rules it encodes:

- only the gateway sends the API's requests; the executor alone besides it asks
  ``vk.auth.start`` (a tool that needs a flow starts one), and the authorizer, the executor and
  the gateway (the console's "force refresh") ask ``vk.tokens.refresh``, whose reply never
  carries a token;
- each service subscribes to the subjects it serves and to nothing another service serves;
- replies go out through ``allow_responses``: a service answers whoever asked it, and may not
  publish on anyone's inbox otherwise;
- each service's replies come back on its own inbox prefix (``_INBOX.<service>``), and it may
  subscribe to that prefix only, so no service reads another's replies (tokens travel in some);
- the services that write tokens, providers or the worker list publish the answer cache's change
  notices (``vk.gateway.answers.stale``, ids only), which the gateway (its answers) and the
  executor (its token records, shared/tokens/cached.py) read;
- only the services that write the outbox publish events, and only the webhooks service
  creates consumers and reads the streams; JetStream's API is open to each for its streams only.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Final

from shared.bus import subjects

JS_API: Final = "$JS.API"
# The nats.micro discovery subjects every service's RpcServer answers ($SRV.PING, $SRV.PING.<name>, ...).
MICRO: Final = "$SRV"


def inbox_prefix(service: str) -> str:
    """The reply subjects of ``service``'s own requests start with this (nats-py's ``inbox_prefix``)."""
    return f"_INBOX.{service}"


@dataclass(frozen=True)
class Permissions:
    """Subjects a NATS user may publish to and subscribe to; ``responds``: it may answer requests."""

    publish: tuple[str, ...]
    subscribe: tuple[str, ...]
    responds: bool = True


@dataclass(frozen=True)
class User:
    name: str
    password: str
    permissions: Permissions | None = None  # None: every subject (a test driver, never a service)


@dataclass(frozen=True)
class _Grant:
    """What one service does on the bus, beyond what every service does (:func:`_own`)."""

    serves: tuple[str, ...] = ()
    requests: tuple[str, ...] = ()
    listens: tuple[str, ...] = ()
    publishes: tuple[str, ...] = ()
    streams: tuple[str, ...] = field(default=())
    consumes: tuple[str, ...] = field(default=())


def _family(subject: str) -> str:
    """``vk.auth.start`` -> ``vk.auth.*``: the subject and its siblings."""
    return subject.rsplit(".", 1)[0] + ".*"


def _stream_admin(stream: str) -> tuple[str, ...]:
    """Create the stream, or bring it to the wanted config (``shared.bus.messaging.ensure_stream``)."""
    return tuple(f"{JS_API}.STREAM.{verb}.{stream}" for verb in ("CREATE", "UPDATE", "INFO"))


def _consumer(stream: str) -> tuple[str, ...]:
    """Create or bind a durable consumer of ``stream``, pull from it, and ack what it delivered."""
    return (
        f"{JS_API}.CONSUMER.CREATE.{stream}",
        f"{JS_API}.CONSUMER.CREATE.{stream}.>",
        f"{JS_API}.CONSUMER.DURABLE.CREATE.{stream}.>",
        f"{JS_API}.CONSUMER.INFO.{stream}.>",
        f"{JS_API}.CONSUMER.MSG.NEXT.{stream}.>",
        f"$JS.ACK.{stream}.>",
    )


# The outbox relay (shared/bus/outbox.py) runs in each service that writes the outbox; any of them
# may publish any event, since one relay drains what the others wrote.
_RELAY: Final = _Grant(publishes=(subjects.EVENTS_ALL,), streams=(subjects.EVENTS_STREAM,))

GRANTS: Final[Mapping[str, _Grant]] = {
    "gateway": _Grant(
        requests=(
            _family(subjects.AUTH_START),
            "vk.admin.>",
            _family(subjects.TOOLS_EXECUTE),
            _family(subjects.SCHEDULED_LIST),
            f"{subjects.HEALTH_PREFIX}.>",
            subjects.TOKEN_REFRESH,  # the console's "force refresh" (services/gateway/console/data.py)
            subjects.REFRESH_COUNTS,  # the console's overview
        ),
        listens=(
            subjects.EVT_AUTHORIZATION_ALL,  # wakes the long-polls (services/gateway/adapters.py)
            subjects.ANSWERS_STALE,  # keeps the answer cache current (shared/bus/answer_cache.py)
        ),
    ),
    "authorizer": _Grant(
        serves=(
            _family(subjects.AUTH_START),
            _family(subjects.PROVIDERS_LIST),
            _family(subjects.CONNECTIONS_LIST),
            _family(subjects.VERIFICATION_SETTINGS_GET),
        ),
        requests=(subjects.TOKEN_REFRESH,),
        publishes=(*_RELAY.publishes, subjects.ANSWERS_STALE),
        streams=_RELAY.streams,
    ),
    "token_refresher": _Grant(
        serves=(subjects.TOKEN_REFRESH, subjects.REFRESH_COUNTS),
        publishes=(*_RELAY.publishes, subjects.ANSWERS_STALE),
        streams=_RELAY.streams,
    ),
    "executor": _Grant(
        serves=(
            _family(subjects.TOOLS_EXECUTE),
            _family(subjects.SCHEDULED_LIST),
            _family(subjects.EXECUTIONS_LIST),
            _family(subjects.WORKERS_LIST),
            _family(subjects.SECRETS_LIST),
            _family(subjects.MCP_GATEWAYS_LIST),
            _family(subjects.PLUGINS_LIST),
            _family(subjects.HOOKS_LIST),
            subjects.WORKERS_CHANGED,
            subjects.HOOKS_CHANGED,
        ),
        listens=(subjects.ANSWERS_STALE,),  # keeps its token records current (shared/tokens/cached.py)
        requests=(subjects.AUTH_START, subjects.TOKEN_REFRESH),
        publishes=(
            *_RELAY.publishes,
            subjects.WORKERS_CHANGED,
            subjects.HOOKS_CHANGED,
            subjects.ANSWERS_STALE,
        ),
        streams=_RELAY.streams,
    ),
    "webhooks": _Grant(
        serves=("vk.admin.webhooks.>",),
        publishes=(subjects.WEBHOOKS_ALL,),  # the work queue of deliveries
        streams=(subjects.EVENTS_STREAM, subjects.WEBHOOKS_STREAM),
        consumes=(subjects.EVENTS_STREAM, subjects.WEBHOOKS_STREAM),
    ),
}


def _own(service: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """What every service does: its replies, its health pings, micro's discovery subjects.

    It may ping its own replicas (the Kubernetes probe, tools/launcher/probe.py, runs with the
    service's credentials)."""
    health = subjects.health_subject(service)
    publish = (health, f"{health}.>")
    subscribe = (f"{inbox_prefix(service)}.>", health, f"{health}.>", f"{MICRO}.*", f"{MICRO}.*.{service}")
    return publish, (*subscribe, f"{MICRO}.*.{service}.>")


def permissions(service: str) -> Permissions:
    """The permissions of ``service``'s NATS user.

    Raises:
        KeyError: ``service`` is not one of ``shared.bus.subjects.SERVICES``.
    """
    grant = GRANTS[service]
    own_publish, own_subscribe = _own(service)
    js = [api for stream in grant.streams for api in _stream_admin(stream)]
    js += [api for stream in grant.consumes for api in _consumer(stream)]
    publish = (*grant.requests, *grant.publishes, *own_publish, *js)
    subscribe = (*grant.serves, *grant.listens, *own_subscribe)
    return Permissions(publish=_unique(publish), subscribe=_unique(subscribe))


def _unique(items: Iterable[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(items))


def service_users(passwords: Mapping[str, str]) -> list[User]:
    """One user per service, named after it, with its permissions."""
    return [User(service, passwords[service], permissions(service)) for service in subjects.SERVICES]


def render_authorization(users: Iterable[User]) -> str:
    """The nats-server ``authorization { users = [...] }`` block (its config format accepts JSON values)."""
    lines = ["authorization {", "  users = ["]
    for user in users:
        entry: dict[str, object] = {"user": user.name, "password": user.password}
        if user.permissions is not None:
            entry["permissions"] = {
                "publish": {"allow": list(user.permissions.publish)},
                "subscribe": {"allow": list(user.permissions.subscribe)},
                "allow_responses": user.permissions.responds,
            }
        lines.append(f"    {json.dumps(entry)}")
    lines += ["  ]", "}", ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Print the block for an operator's own nats-server; replace each placeholder password."""
    names = (argv if argv is not None else sys.argv[1:]) or list(subjects.SERVICES)
    unknown = [name for name in names if name not in GRANTS]
    if unknown:
        print(f"unknown service: {', '.join(unknown)}", file=sys.stderr)
        return 2
    users = [User(name, f"<{name} password>", permissions(name)) for name in names]
    print(render_authorization(users), end="")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
