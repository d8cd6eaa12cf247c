"""``/v1/chat/completions``'s conversation: the model's tool calls run by the executor, until it answers.

Arcade's chat endpoint is an OpenAI-compatible proxy whose ``tools`` may name Arcade tools: when
the model asks for one, the engine runs it for the request's ``user`` and hands the result back
to the model, round after round, until the model answers without a tool call. Pure: the upstream
and the executor are ports, so the loop is tested without either (docs/arcade-compatibility.md,
"Chat completions").
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from shared.errors import BadRequest, ProviderError

#: Rounds of tool calls before the last answer is returned as it is (a model that keeps calling).
MAX_ROUNDS = 8
#: ``tool_choice`` values that are Arcade's, not the model's: run the calls, or only return them.
ARCADE_CHOICES = {"execute", "generate"}

Upstream = Callable[[dict[str, Any]], Awaitable[dict[str, Any]]]


@dataclass(frozen=True)
class ToolRun:
    """What running one tool call gave: the text the model reads, and an authorization to open."""

    content: str
    authorization: dict[str, Any] | None = None


ToolRunner = Callable[[str, dict[str, Any]], Awaitable[ToolRun]]


@dataclass
class Conversation:
    """The tool messages the engine added, and the authorizations the user still has to grant."""

    tool_messages: list[dict[str, Any]] = field(default_factory=list)
    tool_authorizations: list[dict[str, Any]] = field(default_factory=list)


def split_tools(tools: Any) -> tuple[list[str], list[dict[str, Any]]]:
    """``tools`` as sent: Arcade tool names (strings) and the caller's own function tools (objects).

    Raises:
        BadRequest: Neither a list of names nor of objects.
    """
    if tools is None:
        return [], []
    if not isinstance(tools, list):
        raise BadRequest("tools must be a list of tool names or OpenAI function tools")
    names = [t for t in tools if isinstance(t, str)]
    own = [t for t in tools if isinstance(t, dict)]
    if len(names) + len(own) != len(tools) or any(not n.strip() for n in names):
        raise BadRequest("tools must be a list of tool names or OpenAI function tools")
    return names, own


def upstream_request(body: dict[str, Any], tools: list[dict[str, Any]]) -> dict[str, Any]:
    """The request the model gets: Arcade's own ``tool_choice`` values become ``auto``, the
    ``tools`` are function definitions only, and the model answers whole (a stream is written
    from the final answer, :func:`stream_events`)."""
    request = {k: v for k, v in body.items() if k not in ("tools", "tool_choice", "stream", "stream_options")}
    if tools:
        request["tools"] = tools
        choice = body.get("tool_choice")
        request["tool_choice"] = "auto" if choice is None or choice in ARCADE_CHOICES else choice
    return request


def _first_message(answer: dict[str, Any]) -> dict[str, Any]:
    try:
        message = answer["choices"][0]["message"]
    except (KeyError, IndexError, TypeError) as exc:
        raise ProviderError("the model's answer has no choices[0].message") from exc
    if not isinstance(message, dict):
        raise ProviderError("the model's answer has no choices[0].message")
    return message


def _arguments(call: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    function = call.get("function") or {}
    name = str(function.get("name") or "")
    try:
        arguments = json.loads(function.get("arguments") or "{}")
    except ValueError:
        arguments = None
    return name, arguments if isinstance(arguments, dict) else {}


async def converse(
    request: dict[str, Any],
    *,
    upstream: Upstream,
    run_tool: ToolRunner,
    ours: set[str],
    execute: bool = True,
    max_rounds: int = MAX_ROUNDS,
) -> tuple[dict[str, Any], Conversation]:
    """Ask the model; while it calls only tools in ``ours`` (function names), run them and ask again.

    The answer returned is the model's last one. A call to a tool that is not ours (the caller's
    own function), ``execute`` off, a tool that needs an authorization, or ``max_rounds`` reached
    end the loop there: the caller gets the tool calls to handle.
    """
    messages = list(request.get("messages") or [])
    done = Conversation()
    for _ in range(max_rounds):
        answer = await upstream({**request, "messages": messages})
        message = _first_message(answer)
        calls = message.get("tool_calls") or []
        if not calls or not execute or not all(_arguments(c)[0] in ours for c in calls):
            return answer, done
        messages.append(message)
        for call in calls:
            name, arguments = _arguments(call)
            ran = await run_tool(name, arguments)
            tool_message = {"role": "tool", "tool_call_id": call.get("id"), "name": name}
            tool_message["content"] = ran.content
            messages.append(tool_message)
            done.tool_messages.append(tool_message)
            if ran.authorization is not None:
                done.tool_authorizations.append(ran.authorization)
        if done.tool_authorizations:
            return answer, done
    return answer, done


def with_conversation(answer: dict[str, Any], done: Conversation) -> dict[str, Any]:
    """The model's answer with what the engine did in Arcade's ``Choice`` fields (left out when empty)."""
    if not done.tool_messages:
        return answer
    choices = [dict(c) for c in answer.get("choices") or []]
    if choices:
        choices[0]["tool_messages"] = done.tool_messages
        if done.tool_authorizations:
            choices[0]["tool_authorizations"] = done.tool_authorizations
    return {**answer, "choices": choices}


def arcade_answer(answer: dict[str, Any]) -> dict[str, Any]:
    """The final answer with each message's ``content`` a string, as Arcade's ``ChatMessage`` requires
    it: a model answering only tool calls sends ``null`` there, which becomes ``""``. The rest is
    left to ``conform`` (fields Arcade's ``ChatResponse`` lacks, and nulls, are dropped there)."""
    choices = []
    for choice in answer.get("choices") or []:
        fitted = dict(choice)
        if isinstance(choice.get("message"), dict):
            fitted["message"] = _with_text(choice["message"])
        if isinstance(choice.get("tool_messages"), list):
            fitted["tool_messages"] = [_with_text(m) for m in choice["tool_messages"]]
        choices.append(fitted)
    return {**answer, "choices": choices} if "choices" in answer else answer


def _with_text(message: dict[str, Any]) -> dict[str, Any]:
    content = message.get("content")
    if isinstance(content, list):  # content parts: their text, in order
        content = "".join(p.get("text") or "" for p in content if isinstance(p, dict))
    return {**message, "content": content if isinstance(content, str) else ""}


def stream_events(answer: dict[str, Any], *, include_usage: bool = False) -> list[str]:
    """The final answer as OpenAI's server-sent ``chat.completion.chunk`` events, ending ``[DONE]``.

    The engine runs tools between rounds, so the model's rounds are not streamed: the final
    answer goes out as one chunk per choice, which every streaming client reads as a whole reply.
    """
    common: dict[str, Any] = {
        k: answer[k] for k in ("id", "created", "model", "system_fingerprint") if k in answer
    }
    events: list[dict[str, Any]] = []
    for choice in answer.get("choices") or []:
        message = dict(choice.get("message") or {})
        if message.get("tool_calls"):
            message["tool_calls"] = [{"index": i, **c} for i, c in enumerate(message["tool_calls"])]
        delta = {k: v for k, v in message.items() if v is not None}
        extra = {k: choice[k] for k in ("tool_messages", "tool_authorizations") if k in choice}
        chunk_choice: dict[str, Any] = {"index": choice.get("index", 0), "delta": delta, **extra}
        chunk_choice["finish_reason"] = choice.get("finish_reason")
        events.append({**common, "object": "chat.completion.chunk", "choices": [chunk_choice]})
    if include_usage and answer.get("usage") is not None:
        events.append({**common, "object": "chat.completion.chunk", "choices": [], "usage": answer["usage"]})
    return [f"data: {json.dumps(event)}\n\n" for event in events] + ["data: [DONE]\n\n"]
