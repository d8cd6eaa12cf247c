"""Contextual Access's calls (services/executor/hooks.py) against the session's Valkey: the chains a
project's records make, kept until a write drops them, and each call's address policy and failure mode.

Plugin servers are faked at the HTTP level (httpx's MockTransport), and so is DNS for the public
addresses a test cannot reach from here.
"""

import secrets

import httpx
import pytest

from services.executor.hook_admin import ContextualAccessAdmin
from services.executor.hook_store import HookStore
from services.executor.hooks import ContextualAccess
from shared.contracts.execution import ExecuteTool
from shared.contracts.hooks import HookRef, PluginWrite
from shared.errors import HookUnavailable, TargetRefused, ToolDeniedByHook
from shared.runtime.crypto import Cipher, RootKey

pytestmark = pytest.mark.integration

CIPHER = Cipher([RootKey("k", "a-root-key-for-the-hook-call-tests", default=True)])
DEFINITION = {
    "name": "Ping",
    "toolkit": {"name": "Hooli", "version": "1.0.0"},
    "input": {"parameters": []},
}
GLOBAL_ADDRESS = "8.8.8.8"


def plugin_body(url: str, failure_mode: str = "fail_closed") -> dict:
    endpoint = {"url": f"{url}/access", "failure_mode": failure_mode, "phase": "before"}
    return {
        "name": "policy",
        "plugin_type": "webhook",
        "webhook_config": {"auth": {"type": "bearer", "token": "t0ken"}, "endpoints": {"access": endpoint}},
    }


class Recorder:
    """A plugin server at the HTTP level: records each request, answers what it is told."""

    def __init__(self, answer: httpx.Response) -> None:
        self.answer = answer
        self.seen: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.seen.append(request)
        return self.answer


async def resolve_public(host: str, port: int) -> list[str]:
    return [GLOBAL_ADDRESS]


async def resolve_private(host: str, port: int) -> list[str]:
    return ["10.0.0.5"]


def parts(redis, recorder: Recorder, *, allow_private: bool = False, resolver=resolve_public):
    store = HookStore(redis, CIPHER, prefix=f"vk-test-{secrets.token_hex(4)}")
    http = httpx.AsyncClient(transport=httpx.MockTransport(recorder))
    access = ContextualAccess(store, http, allow_private=allow_private, resolver=resolver)

    async def changed(project: str) -> None:
        access.forget(project)

    admin = ContextualAccessAdmin(store, changed, allow_private_targets=allow_private)
    return access, admin


REQUEST = ExecuteTool(tool_name="Hooli.Ping", user_id="ann")


async def test_a_call_connects_to_the_checked_address_with_the_name_in_host_and_the_token(redis):
    recorder = Recorder(httpx.Response(200, json={}))
    access, admin = parts(redis, recorder)
    await admin.create_plugin(PluginWrite(body=plugin_body("https://policy.example:8443")))
    chains = await access.chains("default")
    await access.check_access(chains, DEFINITION, REQUEST)
    sent = recorder.seen[0]
    assert sent.url == httpx.URL(f"https://{GLOBAL_ADDRESS}:8443/access")
    assert sent.headers["host"] == "policy.example:8443"
    assert sent.headers["authorization"] == "Bearer t0ken"
    assert sent.extensions["sni_hostname"] == "policy.example"


async def test_a_host_resolving_to_a_private_address_is_not_called_and_fails_closed(redis):
    recorder = Recorder(httpx.Response(200, json={}))
    access, admin = parts(redis, recorder, resolver=resolve_private)
    await admin.create_plugin(PluginWrite(body=plugin_body("https://policy.example")))
    with pytest.raises(HookUnavailable, match="address policy"):
        await access.check_access(await access.chains("default"), DEFINITION, REQUEST)
    assert recorder.seen == []


async def test_a_plain_http_or_private_literal_url_is_refused_when_saved(redis):
    _, admin = parts(redis, Recorder(httpx.Response(200, json={})))
    for url in ("http://policy.example", "https://127.0.0.1", "https://[::ffff:10.0.0.1]"):
        with pytest.raises(TargetRefused):
            await admin.create_plugin(PluginWrite(body=plugin_body(url)))


async def test_a_failing_plugin_is_skipped_when_its_hook_fails_open(redis):
    recorder = Recorder(httpx.Response(500, text="oops"))
    access, admin = parts(redis, recorder)
    await admin.create_plugin(PluginWrite(body=plugin_body("https://policy.example", "fail_open")))
    await access.check_access(await access.chains("default"), DEFINITION, REQUEST)
    assert len(recorder.seen) == 1


async def test_a_refusal_carries_the_hooks_reason(redis):
    answer = {"deny": {"Hooli": {}}, "error_message": "ann is on leave"}
    access, admin = parts(redis, Recorder(httpx.Response(200, json=answer)))
    await admin.create_plugin(PluginWrite(body=plugin_body("https://policy.example")))
    with pytest.raises(ToolDeniedByHook, match="ann is on leave"):
        await access.check_access(await access.chains("default"), DEFINITION, REQUEST)


async def test_the_chains_are_read_once_and_read_again_after_a_write(redis):
    access, admin = parts(redis, Recorder(httpx.Response(200, json={})))
    assert (await access.chains("default")).empty
    created = (await admin.create_plugin(PluginWrite(body=plugin_body("https://policy.example")))).body
    first = await access.chains("default")
    assert [link.hook_id for link in first.access] == [created["hooks"][0]["id"]]
    assert await access.chains("default") is first  # kept, not read again
    await admin.delete_hook(HookRef(id=created["hooks"][0]["id"]))
    assert (await access.chains("default")).empty


async def test_another_projects_hooks_are_not_in_a_projects_chains(redis):
    access, admin = parts(redis, Recorder(httpx.Response(200, json={})))
    await admin.create_plugin(PluginWrite(body=plugin_body("https://policy.example"), project="other"))
    assert (await access.chains("default")).empty
    assert not (await access.chains("other")).empty
