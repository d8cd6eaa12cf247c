"""Least privilege on a real nats-server started with the users of ``shared.bus.permissions``.

Each service's client connects the way the service does (``shared.bus.access``). The
``tester`` user (every permission) plays the service a request is meant for, so a refused
publish or subscription is told apart from one nobody happened to answer: the same step
taken as a service that holds the permission goes through (the first test of each class).
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import nats
import pytest
from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg

from shared.bus import subjects
from shared.bus.access import nats_connect_options
from shared.bus.flushing import reach_server
from shared.runtime.settings import RuntimeSettings
from tests.support import servers
from tools.launcher import embedded

pytestmark = pytest.mark.integration

SETTLE_S = 5.0  # bounds only the wait for the server's refusal; a pass never waits it out


@pytest.fixture(scope="module")
def bus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[servers.LocalServer]:
    with servers.local_server("nats", tmp_path_factory.mktemp("bus") / "nats") as server:
        yield server


@dataclass
class Connected:
    nc: NatsClient
    refusals: list[str] = field(default_factory=list)
    received: list[Msg] = field(default_factory=list)

    async def refused(self, what: str) -> bool:
        """Wait until the server says it refused ``what`` (``Publish to "x"``, ``Subscription to "x"``)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + SETTLE_S
        while loop.time() < deadline:
            if any(what.lower() in refusal.lower() for refusal in self.refusals):
                return True
            await asyncio.sleep(0.02)
        return False

    async def keep(self, msg: Msg) -> None:
        self.received.append(msg)

    async def heard(self, count: int) -> list[str]:
        """The subjects received once ``count`` messages arrived, or what arrived within the settle time:
        a flush returns when the server's PONG is read, which can be before the callback ran."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + SETTLE_S
        while loop.time() < deadline:
            if len(self.received) >= count:
                break
            await asyncio.sleep(0.02)
        return [m.subject for m in self.received]


async def _connect(server: servers.LocalServer, service: str) -> Connected:
    passwords = servers.service_passwords(server.url)
    assert passwords is not None
    runtime = RuntimeSettings(
        nats_url=servers.without_credentials(server.url), nats_user=service, nats_password=passwords[service]
    )
    refusals: list[str] = []

    async def on_error(error: Exception) -> None:
        refusals.append(str(error))

    options = nats_connect_options(runtime, service=service)
    nc = await nats.connect(runtime.nats_url, allow_reconnect=False, error_cb=on_error, **options)
    return Connected(nc, refusals)


@pytest.fixture
async def tester(bus: servers.LocalServer) -> AsyncIterator[NatsClient]:
    nc = await nats.connect(bus.url)
    yield nc
    await nc.close()


@pytest.fixture
async def connect(bus: servers.LocalServer) -> AsyncIterator[object]:
    opened: list[Connected] = []

    async def open_as(service: str) -> Connected:
        opened.append(await _connect(bus, service))
        return opened[-1]

    yield open_as
    for client in opened:
        await client.nc.close()


async def _answer_with_a_token(tester: NatsClient, subject: str) -> list[Msg]:
    """Stand in for the service that serves ``subject``: every request gets a token back."""
    asked: list[Msg] = []

    async def reply(msg: Msg) -> None:
        asked.append(msg)
        await msg.respond(b'{"ok":true,"result":{"context":{"token":"secret"}}}')

    await tester.subscribe(subject, cb=reply)
    await reach_server(tester)
    return asked


class TestConnecting:
    async def test_a_client_without_credentials_cannot_connect(self, bus):
        with pytest.raises(nats.errors.Error, match="Authorization Violation"):
            await nats.connect(servers.without_credentials(bus.url), allow_reconnect=False, connect_timeout=5)

    async def test_a_client_with_a_wrong_password_cannot_connect(self, bus):
        url = f"nats://executor:not-the-password@{bus.address}"
        with pytest.raises(nats.errors.Error, match="Authorization Violation"):
            await nats.connect(url, allow_reconnect=False, connect_timeout=5)


# Authorizer subjects whose replies can carry a token, or that act on a user's connections.
AUTHORIZER_ONLY_FOR_THE_GATEWAY = [
    subjects.AUTH_STATUS,
    subjects.AUTH_CALLBACK,
    subjects.AUTH_CONFIRM_USER,
    subjects.AUTH_FLOW_INFO,
    subjects.CONNECTIONS_LIST,
    subjects.CONNECTIONS_DELETE,
    subjects.PROVIDERS_GET,
]


# Executor subjects the authorizer has no business asking: running tools, reading tool secrets.
EXECUTOR_ONLY_FOR_THE_GATEWAY = [subjects.TOOLS_EXECUTE, subjects.SECRETS_LIST, subjects.WORKERS_CREATE]


class TestRequests:
    async def test_the_gateway_asks_the_authorizer_and_gets_the_answer(self, tester, connect):
        asked = await _answer_with_a_token(tester, subjects.AUTH_STATUS)
        gateway = await connect("gateway")
        reply = await gateway.nc.request(subjects.AUTH_STATUS, b"{}", timeout=5)
        assert b"secret" in reply.data and len(asked) == 1

    @pytest.mark.parametrize("subject", AUTHORIZER_ONLY_FOR_THE_GATEWAY)
    async def test_the_executor_cannot_ask_the_authorizer_what_only_the_gateway_asks(
        self, tester, connect, subject
    ):
        asked = await _answer_with_a_token(tester, subject)
        executor = await connect("executor")
        await executor.nc.publish(subject, b"{}", reply=executor.nc.new_inbox())
        assert await executor.refused(f'Publish to "{subject}"')
        await reach_server(executor.nc)
        await reach_server(tester)
        assert asked == []

    @pytest.mark.parametrize("service", ["token_refresher", "webhooks"])
    async def test_no_service_but_the_gateway_and_the_executor_can_start_an_authorization(
        self, tester, connect, service
    ):
        """The executor starts the flow a tool needs (services/executor/tool_service.py); nobody else may."""
        asked = await _answer_with_a_token(tester, subjects.AUTH_START)
        client = await connect(service)
        await client.nc.publish(subjects.AUTH_START, b"{}", reply=client.nc.new_inbox())
        assert await client.refused(f'Publish to "{subjects.AUTH_START}"')
        await reach_server(tester)
        assert asked == []

    @pytest.mark.parametrize(
        "subject", [subjects.TOOLS_EXECUTE, subjects.SECRETS_LIST, subjects.WORKERS_CREATE]
    )
    async def test_the_authorizer_cannot_run_tools_or_read_tool_secrets(self, tester, connect, subject):
        asked = await _answer_with_a_token(tester, subject)
        authorizer = await connect("authorizer")
        await authorizer.nc.publish(subject, b"{}", reply=authorizer.nc.new_inbox())
        assert await authorizer.refused(f'Publish to "{subject}"')
        await reach_server(tester)
        assert asked == []


# (what a service tries to subscribe to, a subject the tester then publishes that it would match)
EXECUTOR_MUST_NOT_READ = [
    (">", subjects.AUTH_START),
    ("vk.>", subjects.AUTH_STATUS),
    ("_INBOX.>", "_INBOX.gateway.reply.1"),
    ("_INBOX.gateway.>", "_INBOX.gateway.reply.2"),
    (subjects.AUTH_START, subjects.AUTH_START),
    (subjects.TOKEN_REFRESH, subjects.TOKEN_REFRESH),
    (subjects.WEBHOOKS_ENDPOINTS_CREATE, subjects.WEBHOOKS_ENDPOINTS_CREATE),
    (subjects.EVT_AUTHORIZATION_COMPLETED, subjects.EVT_AUTHORIZATION_COMPLETED),
]

GATEWAY_MUST_NOT_SERVE = [
    subjects.AUTH_START,
    subjects.AUTH_CALLBACK,
    subjects.TOKEN_REFRESH,
    subjects.TOOLS_EXECUTE,
    subjects.SECRETS_UPSERT,
    subjects.WEBHOOKS_ENDPOINTS_ROTATE,
]


async def _subscribe_and_hear(client: Connected, tester: NatsClient, pattern: str, subject: str) -> None:
    await client.nc.subscribe(pattern, cb=client.keep)
    await reach_server(client.nc)
    await tester.publish(subject, b"a token could be in here")
    await reach_server(tester)
    await reach_server(client.nc)


class TestSubscriptions:
    async def test_the_executor_hears_its_own_subjects(self, tester, connect):
        executor = await connect("executor")
        await _subscribe_and_hear(executor, tester, subjects.TOOLS_EXECUTE, subjects.TOOLS_EXECUTE)
        assert await executor.heard(1) == [subjects.TOOLS_EXECUTE]

    @pytest.mark.parametrize(("pattern", "subject"), EXECUTOR_MUST_NOT_READ)
    async def test_the_executor_cannot_read_everything_or_another_services_messages(
        self, tester, connect, pattern, subject
    ):
        executor = await connect("executor")
        await _subscribe_and_hear(executor, tester, pattern, subject)
        assert await executor.refused(f'Subscription to "{pattern}"')
        assert executor.received == []

    @pytest.mark.parametrize("subject", GATEWAY_MUST_NOT_SERVE)
    async def test_the_gateway_cannot_take_the_requests_it_sends(self, tester, connect, subject):
        gateway = await connect("gateway")
        await _subscribe_and_hear(gateway, tester, subject, subject)
        assert await gateway.refused(f'Subscription to "{subject}"')
        assert gateway.received == []

    async def test_a_service_reads_the_replies_to_its_own_requests_only(self, tester, connect):
        """Replies come back on ``_INBOX.<service>``; the refresher cannot read the gateway's."""
        refresher = await connect("token_refresher")
        own = refresher.nc.new_inbox()
        assert own.startswith("_INBOX.token_refresher.")
        await _subscribe_and_hear(refresher, tester, own, own)
        assert await refresher.heard(1) == [own]
        await _subscribe_and_hear(refresher, tester, "_INBOX.gateway.*", "_INBOX.gateway.x")
        assert await refresher.refused('Subscription to "_INBOX.gateway.*"')
        assert len(refresher.received) == 1


def test_the_rendered_block_is_a_configuration_nats_server_accepts(tmp_path: Path) -> None:
    """``python -m shared.bus.permissions`` prints what an operator pastes into their own server's config."""
    printed = subprocess.run(
        [sys.executable, "-m", "shared.bus.permissions"], capture_output=True, text=True, check=True
    ).stdout
    config = tmp_path / "nats.conf"
    config.write_text(printed)
    checked = subprocess.run(
        [embedded.nats_binary(), "-c", str(config), "-t"], capture_output=True, text=True
    )
    assert checked.returncode == 0, checked.stderr + checked.stdout
