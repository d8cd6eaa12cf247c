"""RemoteWorker's JWT, retry and error-mapping decisions, against a scripted transport."""

import httpx
import jwt
import pytest

from services.executor.sources import RemoteWorker
from shared.errors import ConfigError, ServiceUnavailable

REQUEST = {"execution_id": "tc_1", "tool": {"name": "Ping", "toolkit": "Hooli"}, "inputs": {}}
SECRET = "a-test-worker-secret-of-32-bytes!"
OK = {
    "execution_id": "tc_1",
    "finished_at": "x",
    "duration": 1.0,
    "success": True,
    "output": {"value": "pong"},
}


class Script:
    """Answers requests from a list of responses or exceptions, recording what it got."""

    def __init__(self, *steps):
        self.steps = list(steps)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        step = self.steps.pop(0)
        if isinstance(step, Exception):
            raise step
        return step


def _worker(script, retry=2):
    http = httpx.AsyncClient(transport=httpx.MockTransport(script))
    return RemoteWorker("http://worker.test/", SECRET, timeout_s=1.0, retry=retry, http=http, backoff_s=0)


async def test_each_request_carries_a_fresh_hs256_worker_jwt():
    script = Script(httpx.Response(200, json=[]))
    await _worker(script).definitions()
    token = script.requests[0].headers["Authorization"].removeprefix("Bearer ")
    claims = jwt.decode(token, SECRET, algorithms=["HS256"], audience="worker")
    assert claims["ver"] == "1"
    assert claims["exp"] - claims["iat"] == 60
    assert str(script.requests[0].url) == "http://worker.test/worker/tools"


async def test_definitions_retry_on_5xx_and_connection_errors():
    script = Script(
        httpx.Response(502), httpx.ConnectError("refused"), httpx.Response(200, json=[{"name": "Ping"}])
    )
    assert await _worker(script).definitions() == [{"name": "Ping"}]
    assert len(script.requests) == 3


async def test_definitions_give_up_after_the_configured_retries():
    script = Script(*[httpx.ReadTimeout("slow")] * 3)
    with pytest.raises(ServiceUnavailable):
        await _worker(script, retry=2).definitions()
    assert len(script.requests) == 3


async def test_a_401_on_definitions_is_a_config_error_about_the_secret():
    script = Script(httpx.Response(401, json={"detail": "Invalid token"}))
    with pytest.raises(ConfigError, match="secret"):
        await _worker(script).definitions()


async def test_invoke_is_retried_when_the_connection_was_never_made():
    script = Script(httpx.ConnectError("refused"), httpx.Response(200, json=OK))
    assert await _worker(script).invoke(REQUEST) == OK
    assert len(script.requests) == 2


async def test_invoke_is_not_retried_after_a_read_timeout_because_the_tool_may_have_run():
    script = Script(httpx.ReadTimeout("slow"), httpx.Response(200, json=OK))
    response = await _worker(script).invoke(REQUEST)
    assert response["success"] is False
    assert response["execution_id"] == "tc_1"
    assert response["output"]["error"]["kind"] == "NETWORK_TRANSPORT_RUNTIME_TIMEOUT"
    assert len(script.requests) == 1


async def test_invoke_is_not_retried_after_a_5xx():
    script = Script(httpx.Response(500, text="Internal Server Error"), httpx.Response(200, json=OK))
    response = await _worker(script).invoke(REQUEST)
    assert response["output"]["error"]["kind"] == "TOOL_RUNTIME_FATAL"
    assert len(script.requests) == 1


async def test_an_unreachable_worker_gives_a_failed_response_not_an_exception():
    script = Script(*[httpx.ConnectError("refused")] * 3)
    response = await _worker(script).invoke(REQUEST)
    assert response["success"] is False
    assert response["output"]["error"]["kind"] == "NETWORK_TRANSPORT_RUNTIME_UNREACHABLE"


async def test_a_401_on_invoke_is_a_failed_response_that_names_the_secret():
    script = Script(httpx.Response(401, json={"detail": "Invalid token"}))
    error = (await _worker(script).invoke(REQUEST))["output"]["error"]
    assert error["kind"] == "TOOLKIT_LOAD_FAILED"
    assert "secret" in error["message"]


async def test_a_malformed_invoke_answer_is_a_failed_response():
    script = Script(httpx.Response(200, json={"hello": "world"}))
    error = (await _worker(script).invoke(REQUEST))["output"]["error"]
    assert error["kind"] == "NETWORK_TRANSPORT_RUNTIME_UNMAPPED"
