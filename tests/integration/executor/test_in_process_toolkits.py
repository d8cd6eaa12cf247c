"""Our arcade-tdk toolkit run in process, with an arcade-serve worker's semantics."""

import asyncio
import inspect
import threading
from collections.abc import Iterator
from types import SimpleNamespace

import pytest

from services.executor.sources import InProcessToolkits, ToolSource
from shared.errors import BadRequest, ConfigError, NotFound
from tests.support.toolkits.hooli import tools as hooli_tools
from tests.support.toolkits.hooli.tools import fingerprint

pytestmark = pytest.mark.integration

HOOLI = "tests.support.toolkits.hooli"
TOKEN = "hooli-access-token-0123456789"


@pytest.fixture(scope="module")
def hooli() -> InProcessToolkits:
    """A per-call limit no call reaches, even on a loaded machine: only HeldNaps outlast it."""
    return InProcessToolkits([HOOLI], timeout_s=HeldNaps.LIMIT_S / 2)


@pytest.fixture(scope="module")
def impatient_hooli() -> InProcessToolkits:
    """A short per-call limit, for naps held until the test releases them."""
    return InProcessToolkits([HOOLI], timeout_s=0.5)


class HeldNaps:
    """Stands in for the sleep of hooli's Nap and NapSync: a nap lasts until the test releases it.

    What happened is then a fact to assert, not a duration: ``started`` says a nap began,
    ``ended`` that one returned (a cancelled Nap never does), ``released_in_time`` that it
    returned because the test released it, not because ``LIMIT_S`` ran out.
    """

    LIMIT_S = 60  # only a broken executor waits this long

    def __init__(self) -> None:
        self._released = threading.Event()
        self.started = threading.Event()
        self.ended = threading.Event()
        self.released_in_time: bool | None = None

    def sleep(self, _seconds: float) -> None:
        """``time.sleep`` for NapSync, in the thread the tool runs in."""
        self.started.set()
        self.released_in_time = self._released.wait(self.LIMIT_S)
        self.ended.set()

    async def asleep(self, _seconds: float) -> None:
        """``asyncio.sleep`` for Nap; cancelling the tool leaves ``ended`` unset."""
        self.started.set()
        self.released_in_time = await asyncio.to_thread(self._released.wait, self.LIMIT_S)
        self.ended.set()

    def release(self) -> None:
        self._released.set()


@pytest.fixture
def held_naps(monkeypatch: pytest.MonkeyPatch) -> Iterator[HeldNaps]:
    naps = HeldNaps()
    monkeypatch.setattr(hooli_tools, "time", SimpleNamespace(sleep=naps.sleep))
    monkeypatch.setattr(hooli_tools, "asyncio", SimpleNamespace(sleep=naps.asleep))
    yield naps
    naps.release()  # a nap the executor gave up on ends now, not a minute later


def call(tool: str, inputs: dict | None = None, **context) -> dict:
    return {
        "execution_id": "tc_test",
        "tool": {"name": tool, "toolkit": "Hooli"},
        "inputs": inputs or {},
        "context": context,
    }


@pytest.mark.parametrize("member", sorted(name for name in vars(ToolSource) if not name.startswith("_")))
def test_in_process_toolkits_satisfy_the_tool_source_protocol(member):
    wanted = inspect.signature(getattr(ToolSource, member))
    offered = getattr(InProcessToolkits, member, None)
    assert offered is not None, f"InProcessToolkits has no {member}"
    assert inspect.iscoroutinefunction(offered)
    assert list(inspect.signature(offered).parameters) == list(wanted.parameters)
    assert inspect.signature(offered).return_annotation == wanted.return_annotation


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
async def test_a_slow_tool_is_answered_with_a_timeout_error_while_it_still_runs(
    impatient_hooli, held_naps, tool
):
    response = await impatient_hooli.invoke(call(tool, {"seconds": 3}))
    assert held_naps.started.is_set()
    assert not held_naps.ended.is_set()  # the answer did not wait for the tool
    error = response["output"]["error"]
    assert error["kind"] == "NETWORK_TRANSPORT_RUNTIME_TIMEOUT"
    assert error["can_retry"] is False


async def test_a_sync_tool_does_not_block_the_event_loop(hooli, held_naps):
    napping = asyncio.create_task(hooli.invoke(call("NapSync", {"seconds": 3})))
    assert await asyncio.to_thread(held_naps.started.wait, HeldNaps.LIMIT_S)
    held_naps.release()  # the loop runs this line only if the tool's nap left it free
    response = await napping
    assert response["success"] is True
    assert held_naps.released_in_time is True


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
