"""The engine's MCP client against a real plain-SDK server process (tests/support/mcp_servers.py)."""

import asyncio

import pytest

from services.executor.mcp_workers import McpWorker
from services.executor.worker_specs import WorkerSpec
from shared.errors import ConfigError, ServiceUnavailable
from tests.support.mcp_servers import KEY_HEADER, running_mcp_server
from tests.support.worker_app import free_port

pytestmark = pytest.mark.integration

KEY = "integration-notes-key"
#: A call's timeout: room for a loaded CI machine, where the server's own start-up may take seconds.
TIMEOUT_S = 30
#: The timeout of the test that waits for it.
SHORT_TIMEOUT_S = 1


@pytest.fixture(scope="module")
def notes_url():
    with running_mcp_server("plain", key=KEY) as url:
        yield url


def worker(uri, key=KEY, retry=0, timeout=TIMEOUT_S):
    spec = WorkerSpec(
        id="notes",
        uri=uri,
        secret="",
        timeout=timeout,
        retry=retry,
        type="mcp",
        toolkit="Notes",
        secret_headers={KEY_HEADER: key},
    )
    return McpWorker(spec, backoff_s=0.01)


def call(name, inputs=None):
    return {"execution_id": "e1", "tool": {"name": name, "toolkit": "Notes"}, "inputs": inputs or {}}


async def test_definitions_are_the_servers_tools_under_the_toolkit(notes_url):
    definitions = await worker(notes_url).definitions()
    assert {d["fully_qualified_name"] for d in definitions} == {
        "Notes.add",
        "Notes.echo",
        "Notes.explode",
        "Notes.nap",
    }


async def test_a_call_answers_the_structured_value_and_a_failure_is_a_failed_tool(notes_url):
    ok = await worker(notes_url).invoke(call("add", {"a": 1, "b": 2}))
    assert (ok["success"], ok["output"]["value"], ok["execution_id"]) == (True, 3, "e1")
    failed = await worker(notes_url).invoke(call("explode"))
    assert (failed["success"], failed["output"]["error"]["kind"]) == (False, "TOOL_RUNTIME_FATAL")


async def test_a_wrong_key_is_a_config_error_that_never_names_the_key(notes_url):
    with pytest.raises(ConfigError) as error:
        await worker(notes_url, key="the-wrong-key", retry=2).definitions()
    assert "401" in error.value.message and "the-wrong-key" not in error.value.message
    refused = await worker(notes_url, key="the-wrong-key").invoke(call("add", {"a": 1, "b": 2}))
    assert refused["output"]["error"]["kind"] == "TOOLKIT_LOAD_FAILED"


async def test_an_unreachable_server_is_unavailable_and_its_calls_say_so():
    nowhere = f"http://127.0.0.1:{free_port()}/mcp"
    with pytest.raises(ServiceUnavailable) as error:
        await worker(nowhere, retry=1).definitions()
    assert "unreachable" in error.value.message
    answer = await worker(nowhere, retry=1).invoke(call("add", {"a": 1, "b": 2}))
    assert answer["output"]["error"]["kind"] == "NETWORK_TRANSPORT_RUNTIME_UNREACHABLE"


async def test_a_call_past_the_timeout_is_a_timeout(notes_url):
    slow = worker(notes_url, retry=2, timeout=SHORT_TIMEOUT_S)
    answer = await slow.invoke(call("nap", {"seconds": SHORT_TIMEOUT_S + 2}))
    assert answer["output"]["error"]["kind"] == "NETWORK_TRANSPORT_RUNTIME_TIMEOUT"


async def test_concurrent_calls_on_one_pooled_worker_each_get_their_own_answer(notes_url):
    notes = worker(notes_url)
    answers = await asyncio.gather(*(notes.invoke(call("add", {"a": i, "b": 1})) for i in range(10)))
    assert [a["output"]["value"] for a in answers] == [i + 1 for i in range(10)]
    notes.retire()
