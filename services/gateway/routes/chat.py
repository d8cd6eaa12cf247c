"""``POST /v1/chat/completions``: an OpenAI-compatible proxy whose tool calls the executor runs.

The model is engine.yaml's ``llm.models`` (docs/config.md); Arcade tools named in ``tools`` are
sent to it as OpenAI functions and run for the request's ``user`` (services/gateway/chat.py).
With ``stream``, the final answer is sent as server-sent chunks once the tools have run.
"""

from __future__ import annotations

import json
from typing import Any

import httpx
from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field

from services.gateway import chat
from services.gateway.arcade_schemas import conform
from services.gateway.llm import LlmUpstream
from services.gateway.routes.body import documented, json_body
from services.gateway.routes.deps import Extras, Project, limit_user, require_api_key, rpc_of
from services.gateway.routes.tools import build, execute_timeout
from services.gateway.wire import REQUIREMENT_MISSING_STATUS, execution_response
from shared.bus import subjects
from shared.bus.messaging import RpcClient
from shared.contracts.execution import Document, ExecuteTool, GetTool
from shared.errors import BadRequest, HookUnavailable, ToolDeniedByHook
from shared.runtime.config_arcade import LlmModelConfig
from shared.runtime.settings import Settings

router = APIRouter(tags=["chat"], dependencies=[Depends(require_api_key)])


class ChatRequest(BaseModel):
    """Arcade's ``ChatRequest``: OpenAI's, with ``tools`` that may be Arcade tool names."""

    model_config = ConfigDict(extra="allow")

    messages: list[dict[str, Any]] = Field(min_length=1)
    model: str | None = None
    user: str | None = None
    stream: bool | None = None
    stream_options: Any = None
    tools: Any = None
    tool_choice: Any = None


def llm_upstream(settings: Settings) -> LlmUpstream:
    """The app's upstream client (its lifespan closes it)."""
    client = httpx.AsyncClient(trust_env=False)
    allow = settings.engine.security.allow_private_targets or settings.development
    return LlmUpstream(client, allow_private=bool(allow))


@router.post("/v1/chat/completions", response_model=dict[str, Any], openapi_extra=documented(ChatRequest))
async def chat_completions(request: Request, project: Project, extras: Extras = False) -> Response:
    """The model's final answer as Arcade's ``ChatResponse`` (OpenAI's fields beyond it with extras);
    ``choices[0].tool_messages`` holds the tool results the engine added."""
    body = await json_body(request, ChatRequest)
    entry = _model_entry(request.app.state.settings, body.model)
    names, own = chat.split_tools(body.tools)
    if names and not body.user:
        raise BadRequest("user is required when tools name engine tools")
    await limit_user(request.app.state, project, body.user)
    client = rpc_of(request)
    ours = [await _openai_tool(client, project, name, body.user) for name in names]
    fields = body.model_dump(exclude_none=True)
    if body.model is None:
        fields["model"] = (entry.openai.models or [entry.id])[0]
    upstream: LlmUpstream = request.app.state.llm

    async def ask(payload: dict[str, Any]) -> dict[str, Any]:
        return await upstream.complete(entry, payload)

    async def run(name: str, arguments: dict[str, Any]) -> chat.ToolRun:
        command = build(ExecuteTool, tool_name=name, input=arguments, user_id=body.user, project=project)
        timeout = execute_timeout(request.app.state.settings)
        try:
            return tool_run(await client.call_raw(subjects.TOOLS_EXECUTE, command, timeout=timeout))
        except (ToolDeniedByHook, HookUnavailable) as exc:  # the model reads why, as a tool's error
            return chat.ToolRun(content=json.dumps({"error": exc.message}))

    answer, done = await chat.converse(
        chat.upstream_request(fields, ours + own),
        upstream=ask,
        run_tool=run,
        ours={t["function"]["name"] for t in ours},
        execute=body.tool_choice != "generate",
    )
    final = chat.with_conversation(answer, done)
    if not body.stream:
        return JSONResponse(conform(chat.arcade_answer(final), "ChatResponse", extras=extras))
    usage = isinstance(body.stream_options, dict) and bool(body.stream_options.get("include_usage"))
    events = chat.stream_events(final, include_usage=usage)
    return StreamingResponse(iter(events), media_type="text/event-stream")


def _model_entry(settings: Settings, model: str | None) -> LlmModelConfig:
    llm = settings.engine.llm
    entry = llm.upstream_for(model) if llm is not None else None
    if entry is None:
        raise BadRequest("no model is configured: add one under llm.models in engine.yaml")
    return entry


async def _openai_tool(client: RpcClient, project: str, name: str, user: str | None) -> dict[str, Any]:
    """An engine tool as an OpenAI function (an unknown name is the executor's 404)."""
    query = build(GetTool, name=name, project=project, format="openai", user_id=user)
    return (await client.call(subjects.TOOLS_GET, query, Document)).body


def tool_run(result: dict[str, Any]) -> chat.ToolRun:
    """An ``ExecutionResult`` as the text the model reads, with the authorization the user must open
    (the 403's extras carry it)."""
    status_code, answer = execution_response(result, extras=True)
    output = answer.get("output") or {}
    if status_code == REQUIREMENT_MISSING_STATUS:
        return chat.ToolRun(content=answer["message"], authorization=output.get("authorization"))
    if answer["success"]:
        return chat.ToolRun(content=json.dumps(output.get("value")))
    error = output.get("error") or {}
    return chat.ToolRun(content=json.dumps({"error": error.get("message") or "the tool failed"}))
