"""The execute use case, with in-memory fakes for the catalog source, token store, authorizer and secrets;
its typed result is read as the gateway writes it (``services.gateway.wire``)."""

from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import httpx
import pytest
from prometheus_client import REGISTRY

from services.executor import metrics as executor_metrics
from services.executor.adapters import Providers, RefreshingTokens, RpcAuthorizer
from services.executor.catalog import ToolCatalog
from services.executor.execution import Executor
from services.gateway.wire import execution_response
from shared.bus import subjects
from shared.contracts.authorization import Authorization, AuthorizationContext
from shared.contracts.execution import ExecuteTool
from shared.contracts.tokens import RefreshOutcome
from shared.errors import BadRequest, NotFound, ToolRequirementsNotMet
from shared.tokens.model import RefreshPolicy, StoredToken

HOOLI_AUTH = {"id": "hooli", "provider_id": None, "provider_type": "oauth2", "oauth2": {"scopes": ["scope1"]}}


def definition(name, auth=None, secrets=()):
    return {
        "name": name,
        "fully_qualified_name": f"Hooli.{name}",
        "description": f"{name} tool",
        "toolkit": {"name": "Hooli", "description": "", "version": "1.0.0"},
        "input": {"parameters": []},
        "output": None,
        "requirements": {"authorization": auth, "secrets": [{"key": k} for k in secrets]},
    }


def ok(value, execution_id="tc_x"):
    return {
        "execution_id": execution_id,
        "duration": 1.5,
        "finished_at": "t",
        "success": True,
        "output": {"value": value, "logs": [], "error": None},
    }


def failed(kind, stacktrace="Traceback ...", **extra):
    error = {"message": "it failed", "kind": kind, "can_retry": False, "stacktrace": stacktrace, **extra}
    return {
        "execution_id": "tc_x",
        "duration": 2.0,
        "finished_at": "t",
        "success": False,
        "output": {"value": None, "logs": [], "error": error},
    }


class FakeSource:
    def __init__(self, *definitions):
        self._definitions = list(definitions)
        self.answers: list = []
        self.calls: list[dict] = []

    async def definitions(self):
        return self._definitions

    async def invoke(self, request):
        self.calls.append(request)
        answer = self.answers.pop(0) if self.answers else ok("done", request["execution_id"])
        if isinstance(answer, Exception):
            raise answer
        return answer


class FakeTokens:
    def __init__(self):
        self.tokens: dict[tuple[str, str], StoredToken] = {}

    async def get(self, user_id, provider_id, *, project="default"):
        return self.tokens.get((user_id, provider_id))

    latest = get


class FakeRpc:
    """The authorizer and the refresher, as far as the executor asks them."""

    def __init__(self, tokens: FakeTokens):
        self.tokens = tokens
        self.requests: list[tuple[str, object]] = []
        self.authorization = Authorization(id="ac_1", status="pending", url="https://auth.test/a?state=s")
        self.refreshed_to: str | None = None

    async def call(self, subject, request, result):
        self.requests.append((subject, request))
        if subject == subjects.AUTH_START:
            return self.authorization
        if self.refreshed_to is None:
            return RefreshOutcome(status="reauthorization_required")
        key = (request.user_id, request.provider_id)
        self.tokens.tokens[key] = self.tokens.tokens[key].model_copy(
            update={"access_token": self.refreshed_to}
        )
        return RefreshOutcome(status="refreshed")


class FakeSecrets:
    def __init__(self, **values):
        self.values_by_key = values

    async def values(self, wanted, project="default"):
        found = [{"key": k, "value": self.values_by_key[k]} for k in wanted if k in self.values_by_key]
        return found, [k for k in wanted if k not in self.values_by_key]


class Events:
    def __init__(self):
        self.queued: list = []

    async def publish(self, event):
        self.queued.append(event)


class FakeHistory:
    def __init__(self):
        self.recorded = []

    async def ran(self, request, ran, started_at):
        self.recorded.append((request, ran))


class FakeFinder:
    def __init__(self, *ids):
        self.ids = ids

    async def find(self, *, id, builtin_id, project="default"):
        if (id or builtin_id) not in self.ids:
            raise NotFound(f"no enabled auth provider {id or builtin_id!r} is configured")
        return SimpleNamespace(id=id or builtin_id)


def token(access="tok-1", scopes=("scope1",), refresh="rt-1"):
    now = datetime.now(UTC)
    return StoredToken(
        access_token=access,
        refresh_token=refresh,
        issued_at=now,
        expires_at=now + timedelta(hours=1),
        scopes=list(scopes),
        user_info={"sub": "gavin"},
    )


@pytest.fixture
async def world():
    source = FakeSource(
        definition("Ping"),
        definition("ReticulateSplines", auth=HOOLI_AUTH),
        definition("ReadKey", secrets=["HOOLI_API_KEY"]),
        definition("Elsewhere", auth={"id": "nowhere", "oauth2": {"scopes": []}}),
    )
    catalog = ToolCatalog(httpx.AsyncClient())
    await catalog.load_in_process(source)
    tokens = FakeTokens()
    rpc = FakeRpc(tokens)
    events = Events()
    history = FakeHistory()

    executor = Executor(
        catalog,
        Providers(FakeFinder("hooli")),
        RefreshingTokens(tokens, lambda: rpc, RefreshPolicy()),
        FakeSecrets(HOOLI_API_KEY="k-1"),
        RpcAuthorizer(lambda: rpc),
        events,
        history,
    )
    return SimpleNamespace(
        executor=executor, source=source, tokens=tokens, rpc=rpc, events=events.queued, history=history
    )


async def execute(world, tool, *, extras=True, **fields):
    """The reply as the HTTP API answers it: status and Arcade's body, written from the typed result
    (with valetkey's extras unless ``extras`` is false: docs/arcade-compatibility.md §1.6)."""
    result = await world.executor.execute(ExecuteTool(tool_name=tool, **fields))
    status_code, body = execution_response(result.model_dump(mode="json"), extras=extras)
    return SimpleNamespace(status_code=status_code, body=body)


class TestAToolThatNeedsAuthorization:
    async def test_without_a_token_it_starts_an_authorization_and_answers_403_with_its_url(self, world):
        reply = await execute(world, "Hooli.ReticulateSplines", user_id="gavin")
        assert reply.status_code == 403
        assert reply.body["name"] == "tool_authorization_required"
        authorization = reply.body["output"]["authorization"]
        assert authorization["url"] == authorization["authorization_url"] == "https://auth.test/a?state=s"
        assert authorization["id"] == "ac_1"
        subject, start = world.rpc.requests[-1]
        assert subject == subjects.AUTH_START
        assert (start.user_id, start.requirement.id, start.requirement.scopes) == (
            "gavin",
            "hooli",
            ["scope1"],
        )
        assert world.source.calls == []

    async def test_a_token_without_the_scopes_starts_an_authorization_too(self, world):
        world.tokens.tokens[("gavin", "hooli")] = token(scopes=["other"])
        reply = await execute(world, "Hooli.ReticulateSplines", user_id="gavin")
        assert reply.status_code == 403
        assert world.source.calls == []

    async def test_with_a_covering_token_the_tool_gets_token_user_info_and_user_id(self, world):
        world.tokens.tokens[("gavin", "hooli")] = token()
        reply = await execute(world, "Hooli_ReticulateSplines", user_id="gavin")
        assert reply.status_code == 200
        context = world.source.calls[0]["context"]
        assert context["authorization"] == {"token": "tok-1", "user_info": {"sub": "gavin"}}
        assert context["user_id"] == "gavin"
        assert world.rpc.requests == []  # a valid token needs neither the authorizer nor the refresher

    async def test_when_the_authorizer_finds_a_token_the_tool_runs_with_it(self, world):
        world.rpc.authorization = Authorization(
            status="completed", context=AuthorizationContext(token="from-authorizer", user_info={"sub": "g"})
        )
        reply = await execute(world, "Hooli.ReticulateSplines", user_id="gavin")
        assert reply.status_code == 200
        assert world.source.calls[0]["context"]["authorization"]["token"] == "from-authorizer"

    async def test_without_a_user_id_it_is_a_bad_request(self, world):
        with pytest.raises(BadRequest, match="user_id"):
            await execute(world, "Hooli.ReticulateSplines")

    async def test_a_provider_nobody_configured_is_a_requirement_not_met(self, world):
        with pytest.raises(ToolRequirementsNotMet, match="nowhere"):
            await execute(world, "Hooli.Elsewhere", user_id="gavin")


class TestAnUpstreamThatRejectsTheToken:
    async def test_a_refreshable_token_is_refreshed_and_the_call_retried_once(self, world):
        world.tokens.tokens[("gavin", "hooli")] = token()
        world.rpc.refreshed_to = "tok-2"
        world.source.answers = [failed("UPSTREAM_RUNTIME_AUTH_ERROR", status_code=401), ok("second")]
        reply = await execute(world, "Hooli.ReticulateSplines", user_id="gavin")
        assert reply.body["success"] is True
        assert reply.body["output"]["value"] == "second"
        tokens_sent = [c["context"]["authorization"]["token"] for c in world.source.calls]
        assert tokens_sent == ["tok-1", "tok-2"]
        assert world.rpc.requests[-1][1].force is True

    async def test_a_token_without_refresh_token_is_not_retried(self, world):
        world.tokens.tokens[("gavin", "hooli")] = token(refresh=None)
        world.source.answers = [failed("UPSTREAM_RUNTIME_AUTH_ERROR", status_code=401)]
        reply = await execute(world, "Hooli.ReticulateSplines", user_id="gavin")
        assert reply.body["output"]["error"]["kind"] == "UPSTREAM_RUNTIME_AUTH_ERROR"
        assert len(world.source.calls) == 1

    async def test_a_refresh_that_needs_reauthorization_answers_the_original_failure(self, world):
        world.tokens.tokens[("gavin", "hooli")] = token()
        world.source.answers = [failed("UPSTREAM_RUNTIME_AUTH_ERROR", status_code=401)]
        reply = await execute(world, "Hooli.ReticulateSplines", user_id="gavin")
        assert reply.body["success"] is False
        assert len(world.source.calls) == 1


class TestSecrets:
    async def test_a_present_secret_reaches_the_tool_and_no_other(self, world):
        await execute(world, "Hooli.ReadKey")
        assert world.source.calls[0]["context"]["secrets"] == [{"key": "HOOLI_API_KEY", "value": "k-1"}]
        await execute(world, "Hooli.Ping")
        assert world.source.calls[1]["context"]["secrets"] == []

    async def test_a_missing_secret_answers_403_requirements_not_met_naming_the_key(self, world):
        world.executor._secrets = FakeSecrets()
        reply = await execute(world, "Hooli.ReadKey")
        assert reply.status_code == 403
        assert reply.body["name"] == "tool_requirements_not_met"
        assert reply.body["message"] == "secret not found: HOOLI_API_KEY"
        assert world.source.calls == []


class TestTheAnswer:
    async def test_without_extras_it_has_arcades_execute_fields_only(self, world):
        body = (await execute(world, "hooli.ping", extras=False)).body
        assert "tool_name" not in body and body["output"] == {"value": "done", "logs": []}

    async def test_without_extras_a_missing_authorization_is_the_bare_error(self, world):
        reply = await execute(world, "Hooli.ReticulateSplines", user_id="gavin", extras=False)
        assert reply.status_code == 403 and set(reply.body) == {"name", "message"}

    async def test_it_has_arcades_execute_fields_and_the_tool_name(self, world):
        body = (await execute(world, "hooli.ping")).body
        assert body["id"].startswith("te_") and body["execution_id"].startswith("tc_")
        assert body["execution_id"] == world.source.calls[0]["execution_id"]
        assert (body["execution_type"], body["status"], body["success"]) == ("immediate", "completed", True)
        assert body["tool_name"] == "Hooli.Ping"
        assert body["duration"] == 1.5
        assert body["finished_at"].endswith("Z")
        assert body["output"] == {"value": "done", "logs": []}

    async def test_a_failed_tool_has_its_stacktrace_removed_unless_asked(self, world):
        world.source.answers = [failed("TOOL_RUNTIME_FATAL"), failed("TOOL_RUNTIME_FATAL")]
        hidden = (await execute(world, "Hooli.Ping")).body
        shown = (await execute(world, "Hooli.Ping", include_error_stacktrace=True)).body
        assert hidden["status"] == "failed" and hidden["success"] is False
        assert "stacktrace" not in hidden["output"]["error"]
        assert shown["output"]["error"]["stacktrace"] == "Traceback ..."

    async def test_a_source_that_crashes_is_a_fatal_tool_error_not_an_exception(self, world):
        world.source.answers = [RuntimeError("bug in a source")]
        body = (await execute(world, "Hooli.Ping")).body
        assert body["success"] is False
        assert body["output"]["error"]["kind"] == "TOOL_RUNTIME_FATAL"
        assert "bug in a source" not in str(body)

    async def test_webhook_true_queues_a_completion_event_without_the_token(self, world):
        world.tokens.tokens[("gavin", "hooli")] = token()
        body = (await execute(world, "Hooli.ReticulateSplines", user_id="gavin", webhook=True)).body
        (event,) = world.events
        assert (event.execution_id, event.tool_name, event.success) == (
            body["execution_id"],
            "Hooli.ReticulateSplines",
            True,
        )
        assert "tok-1" not in event.model_dump_json()

    async def test_without_webhook_no_event_is_queued(self, world):
        await execute(world, "Hooli.Ping")
        assert world.events == []

    async def test_unknown_tools_are_not_found_and_unparseable_names_bad_requests(self, world):
        with pytest.raises(NotFound):
            await execute(world, "Hooli.Nope")
        with pytest.raises(BadRequest, match="failed to parse tool name"):
            await execute(world, "NoSeparator")

    async def test_a_run_at_execution_is_not_run_on_the_immediate_path(self, world):
        with pytest.raises(BadRequest, match="run_at"):
            await execute(world, "Hooli.Ping", run_at="2030-01-01T00:00:00")
        assert world.source.calls == [] and world.history.recorded == []

    async def test_each_immediate_execution_goes_to_the_history_with_where_it_ran(self, world):
        await execute(world, "Hooli.Ping", user_id="gavin")
        [(request, ran)] = world.history.recorded
        assert (request.user_id, ran.result.tool_name, ran.source) == ("gavin", "Hooli.Ping", "worker")


class TestMetrics:
    async def test_a_tool_that_ran_is_counted_by_tool_source_and_outcome(self, world):
        labels = {"tool": "Hooli.ReticulateSplines", "source": "worker", "outcome": "success"}
        before = REGISTRY.get_sample_value("valetkey_tool_executions_total", labels) or 0.0
        world.tokens.tokens[("gavin", "hooli")] = token()
        reply = await execute(world, "Hooli_ReticulateSplines", user_id="gavin")
        assert reply.status_code == 200
        assert REGISTRY.get_sample_value("valetkey_tool_executions_total", labels) == before + 1

    def test_each_outcome_and_its_duration_are_counted_apart_on_every_call(self):
        def sample(name: str, **labels: str) -> float:
            return (
                REGISTRY.get_sample_value(name, {"tool": "Hooli.Tally", "source": "worker", **labels}) or 0.0
            )

        before = [sample("valetkey_tool_executions_total", outcome=o) for o in ("success", "failed")]
        observed = sample("valetkey_tool_execution_duration_seconds_count")
        for success in (True, True, False):
            executor_metrics.record("Hooli.Tally", "worker", success, 0.01)
        after = [sample("valetkey_tool_executions_total", outcome=o) for o in ("success", "failed")]
        assert [a - b for a, b in zip(after, before, strict=True)] == [2, 1]
        assert sample("valetkey_tool_execution_duration_seconds_count") == observed + 3
