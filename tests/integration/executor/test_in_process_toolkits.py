"""Our arcade-tdk toolkit run in process, with an arcade-serve worker's semantics."""

import asyncio
import time

import pytest

from services.executor.sources import InProcessToolkits, ToolSource
from shared.errors import BadRequest, ConfigError, NotFound
from tests.support.toolkits.hooli.tools import fingerprint

pytestmark = pytest.mark.integration

HOOLI = "tests.support.toolkits.hooli"
TOKEN = "hooli-access-token-0123456789"


@pytest.fixture(scope="module")
def hooli() -> InProcessToolkits:
    return InProcessToolkits([HOOLI], timeout_s=0.5)


def call(tool: str, inputs: dict | None = None, **context) -> dict:
    return {
        "execution_id": "tc_test",
        "tool": {"name": tool, "toolkit": "Hooli"},
        "inputs": inputs or {},
        "context": context,
    }


def test_in_process_toolkits_satisfy_the_tool_source_protocol(hooli):
    source: ToolSource = hooli
    assert source is hooli


async def test_definitions_list_every_hooli_tool_in_worker_format(hooli):
    definitions = {d["name"]: d for d in await hooli.definitions()}
    assert set(definitions) == {
        "ReticulateSplines",
        "ReadApiKeyFingerprint",
        "Explode",
        "Flaky",
        "Nap",
        "NapSync",
        "Ping",
    }
    splines = definitions["ReticulateSplines"]
    assert splines["fully_qualified_name"] == "Hooli.ReticulateSplines"
    assert splines["toolkit"]["version"] == "1.0.0"
    assert splines["requirements"]["authorization"]["id"] == "hooli"
    assert splines["requirements"]["authorization"]["oauth2"]["scopes"] == ["scope1", "scope2"]
    assert definitions["ReadApiKeyFingerprint"]["requirements"]["secrets"] == [{"key": "HOOLI_API_KEY"}]
    assert "_meta" in splines  # by alias, as arcade-serve's FastAPI answer


async def test_the_tool_sees_token_user_info_and_user_id_from_the_context(hooli):
    context = {"authorization": {"token": TOKEN, "user_info": {"sub": "gavin"}}, "user_id": "gavin@hooli.xyz"}
    response = await hooli.invoke(call("ReticulateSplines", {"num_splines": 3}, **context))
    assert response["success"] is True
    assert response["execution_id"] == "tc_test"
    assert response["output"]["value"] == {
        "reticulated": 3,
        "token_sha256_prefix": fingerprint(TOKEN),
        "token_length": len(TOKEN),
        "sub": "gavin",
        "user_id": "gavin@hooli.xyz",
    }
    assert TOKEN not in str(response)


async def test_tool_lookup_ignores_case_and_accepts_the_exact_version(hooli):
    request = call("reticulatesplines", {"num_splines": 1}, authorization={"token": TOKEN})
    request["tool"] |= {"toolkit": "hooli", "version": "1.0.0"}
    assert (await hooli.invoke(request))["success"] is True


async def test_a_sync_tool_gets_its_secret(hooli):
    response = await hooli.invoke(
        call("ReadApiKeyFingerprint", secrets=[{"key": "HOOLI_API_KEY", "value": "k-123"}])
    )
    assert response["output"]["value"] == fingerprint("k-123")


async def test_a_missing_secret_is_a_failed_call_not_an_exception(hooli):
    response = await hooli.invoke(call("ReadApiKeyFingerprint"))
    assert response["success"] is False
    assert response["output"]["error"]["kind"] == "TOOL_RUNTIME_FATAL"


async def test_bad_input_is_reported_as_a_bad_input_value(hooli):
    response = await hooli.invoke(call("ReticulateSplines", {"num_splines": "many"}))
    error = response["output"]["error"]
    assert error["kind"] == "TOOL_RUNTIME_BAD_INPUT_VALUE"
    assert "num_splines" in error["message"]


async def test_a_raising_tool_is_a_fatal_error_with_a_stacktrace_and_no_retry(hooli):
    response = await hooli.invoke(call("Explode", {"reason": "kaboom"}))
    error = response["output"]["error"]
    assert response["success"] is False
    assert error["kind"] == "TOOL_RUNTIME_FATAL"
    assert error["can_retry"] is False
    assert "RuntimeError" in error["message"]
    assert "kaboom" not in error["message"]  # only the type reaches the agent
    assert "kaboom" in error["stacktrace"]


async def test_a_retryable_tool_error_keeps_its_hint_and_retry_delay(hooli):
    error = (await hooli.invoke(call("Flaky", {"hint": "try later"})))["output"]["error"]
    assert error["kind"] == "TOOL_RUNTIME_RETRY"
    assert error["can_retry"] is True
    assert error["additional_prompt_content"] == "try later"
    assert error["retry_after_ms"] == 250


@pytest.mark.parametrize("tool", ["Nap", "NapSync"])
async def test_a_slow_tool_times_out_with_a_timeout_error(hooli, tool):
    started = time.monotonic()
    response = await hooli.invoke(call(tool, {"seconds": 3}))
    assert time.monotonic() - started < 2
    error = response["output"]["error"]
    assert error["kind"] == "NETWORK_TRANSPORT_RUNTIME_TIMEOUT"
    assert error["can_retry"] is False


async def test_a_sync_tool_does_not_block_the_event_loop(hooli):
    ticks = 0

    async def tick():
        nonlocal ticks
        for _ in range(10):
            await asyncio.sleep(0.01)
            ticks += 1

    await asyncio.gather(hooli.invoke(call("NapSync", {"seconds": 0.3})), tick())
    assert ticks == 10


async def test_an_unknown_tool_or_version_is_not_found(hooli):
    with pytest.raises(NotFound):
        await hooli.invoke(call("Nope"))
    request = call("Ping")
    request["tool"]["version"] = "9.9.9"
    with pytest.raises(NotFound):
        await hooli.invoke(request)


async def test_a_malformed_request_is_a_bad_request(hooli):
    with pytest.raises(BadRequest):
        await hooli.invoke({"tool": "Hooli.Ping"})


async def test_health_counts_the_tools(hooli):
    assert await hooli.health() == {"status": "ok", "tool_count": "7"}


def test_an_unknown_toolkit_name_is_a_config_error():
    with pytest.raises(ConfigError, match="no_such_toolkit"):
        InProcessToolkits(["no_such_toolkit"])
