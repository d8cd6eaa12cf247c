"""A real arcade-serve worker process, reached with RemoteWorker over loopback HTTP."""

import httpx
import pytest

from services.executor.sources import InProcessToolkits, RemoteWorker
from shared.errors import ConfigError, ServiceUnavailable
from tests.support.toolkits.hooli.tools import fingerprint
from tests.support.worker_app import free_port, running_worker

pytestmark = pytest.mark.integration

SECRET = "a-worker-secret-that-is-32-bytes-long"
TOKEN = "hooli-access-token-remote"


@pytest.fixture(scope="module")
def worker_url():
    with running_worker(SECRET) as url:
        yield url


@pytest.fixture
async def http():
    async with httpx.AsyncClient() as client:
        yield client


def _remote(url, http, secret=SECRET, **kwargs):
    return RemoteWorker(
        url, secret, timeout_s=kwargs.pop("timeout_s", 5.0), retry=kwargs.pop("retry", 1), http=http, **kwargs
    )


def _call(tool, inputs, **context):
    return {
        "execution_id": "tc_remote",
        "tool": {"name": tool, "toolkit": "Hooli"},
        "inputs": inputs,
        "context": context,
    }


async def test_the_worker_lists_the_same_definitions_as_in_process(worker_url, http):
    remote = await _remote(worker_url, http).definitions()
    local = await InProcessToolkits(["tests.support.toolkits.hooli"]).definitions()
    assert remote == local


async def test_a_tool_runs_on_the_worker_with_token_and_user_info(worker_url, http):
    context = {"authorization": {"token": TOKEN, "user_info": {"sub": "gavin"}}, "user_id": "gavin"}
    response = await _remote(worker_url, http).invoke(
        _call("ReticulateSplines", {"num_splines": 2}, **context)
    )
    assert response["success"] is True
    assert response["execution_id"] == "tc_remote"
    assert response["output"]["value"]["token_sha256_prefix"] == fingerprint(TOKEN)
    assert response["output"]["value"]["sub"] == "gavin"


async def test_a_raising_tool_fails_the_same_way_remotely(worker_url, http):
    response = await _remote(worker_url, http).invoke(_call("Explode", {}))
    assert response["success"] is False
    assert response["output"]["error"]["kind"] == "TOOL_RUNTIME_FATAL"


async def test_health_answers_with_the_workers_tool_count(worker_url, http):
    assert await _remote(worker_url, http).health() == {"status": "ok", "tool_count": "7"}


async def test_a_wrong_secret_is_refused(worker_url, http):
    wrong = _remote(worker_url, http, secret="not-the-secret-of-this-worker-at-all")
    with pytest.raises(ConfigError, match="secret"):
        await wrong.definitions()
    response = await wrong.invoke(_call("Ping", {}))
    assert response["success"] is False
    assert response["output"]["error"]["kind"] == "TOOLKIT_LOAD_FAILED"


async def test_a_slow_tool_times_out_at_the_transport(worker_url, http):
    response = await _remote(worker_url, http, timeout_s=0.3).invoke(_call("Nap", {"seconds": 2}))
    assert response["output"]["error"]["kind"] == "NETWORK_TRANSPORT_RUNTIME_TIMEOUT"


async def test_an_absent_worker_is_unreachable(http):
    absent = _remote(f"http://127.0.0.1:{free_port()}", http, retry=1, backoff_s=0)
    response = await absent.invoke(_call("Ping", {}))
    assert response["output"]["error"]["kind"] == "NETWORK_TRANSPORT_RUNTIME_UNREACHABLE"
    with pytest.raises(ServiceUnavailable):
        await absent.definitions()
