"""What Contextual Access (docs/contextual-access.md) costs an execution: ``POST /v1/tools/execute``
of ``Hooli.Ping`` in three projects of one engine, same run, taking turns over a few rounds.

- ``no hooks``: the project has no plugin (the executor's copy of its chains is empty);
- ``empty chain``: a plugin whose three hooks are all inactive (chains built, nothing to call);
- ``one HTTP hook at each point``: the same plugin active, calling a loopback plugin server
  (tests/support/hook_server.py) at ``tool.access``, ``tool.pre`` and ``tool.post``.

Reported: req/s, p50/p99 of each, and each p50 over the ``no hooks`` one. The three use the same
kind of API key (engine.yaml ``api.keys``), and each round starts with another of them.
Numbers, no assertions.
Run: ``python -m bench hooks`` (``-- --duration S --rounds R --concurrency C``).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import tempfile
from pathlib import Path
from typing import Any

import httpx

from bench.common import table
from bench.loadgen import Target, run_load
from bench.stacks import oauth_stack
from tests.support.engine import Engine
from tests.support.hook_server import running_hook_server

# Three projects of the same kind of key, so that only their hooks differ.
KEYS = {
    "no hooks": "vk_bench_key_no_hooks",
    "empty chain": "vk_bench_key_empty_chain",
    "one HTTP hook at each point": "vk_bench_key_hooked",
}
PROJECTS = {"no hooks": "plain", "empty chain": "empty", "one HTTP hook at each point": "hooked"}


def _plugin(url: str, status: str) -> dict[str, Any]:
    endpoint = {"failure_mode": "fail_closed", "phase": "before", "status": status, "timeout_ms": 5000}
    return {
        "name": "bench-policy",
        "plugin_type": "webhook",
        "webhook_config": {
            "auth": {"type": "bearer", "token": "hook-token"},
            "endpoints": {p: {"url": f"{url}/{p}", **endpoint} for p in ("access", "pre", "post")},
        },
    }


def _targets(engine: Engine, hook_url: str) -> dict[str, Target]:
    body = {"tool_name": "Hooli.Ping", "user_id": "bench-user", "input": {}}
    url = f"{engine.base_url}/v1/tools/execute"
    targets = {}
    for name, key in KEYS.items():
        targets[name] = Target("POST", url, {"Authorization": f"Bearer {key}"}, body)
        if name == "no hooks":
            continue
        status = "inactive" if name == "empty chain" else "active"
        created = httpx.post(
            f"{engine.base_url}/v1/plugins",
            json=_plugin(hook_url, status),
            headers={"Authorization": f"Bearer {key}"},
            timeout=30,
        )
        created.raise_for_status()
    return targets


async def _rounds(targets: dict[str, Target], duration: float, rounds: int, concurrency: int) -> list[Any]:
    """Each round runs the targets in another order, so none always goes first."""
    names = list(targets)
    results = []
    for index in range(rounds):
        turn = names[index % len(names) :] + names[: index % len(names)]
        results.append(
            {n: await run_load(targets[n], concurrency=concurrency, duration=duration) for n in turn}
        )
    return results


def main(argv: list[str]) -> dict[str, Any]:
    parser = argparse.ArgumentParser(prog="bench hooks")
    parser.add_argument("--duration", type=float, default=5.0, help="seconds per target and round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=1)
    args = parser.parse_args(argv)
    keys = [{"key": KEYS[name], "project": PROJECTS[name], "role": "admin"} for name in KEYS]
    with tempfile.TemporaryDirectory() as tmp, contextlib.ExitStack() as stacks:
        engine, _ = stacks.enter_context(oauth_stack(Path(tmp) / "engine", api={"keys": keys}))
        hooks = stacks.enter_context(running_hook_server(record=False))
        targets = _targets(engine, hooks.url)
        by_round = asyncio.run(_rounds(targets, args.duration, args.rounds, args.concurrency))
    last = by_round[-1]
    p50 = {name: sorted(r[name]["p50_ms"] for r in by_round)[len(by_round) // 2] for name in targets}
    rows = [
        {
            "target": name,
            "req/s": round(sum(r[name]["rps"] for r in by_round) / len(by_round), 1),
            "p50 ms (median of rounds)": p50[name],
            "p99 ms (last round)": last[name]["p99_ms"],
            "errors": sum(r[name]["errors"] for r in by_round),
            "p50 / no hooks": round(p50[name] / p50["no hooks"], 3),
        }
        for name in targets
    ]
    print(table(rows))
    return {"rows": rows, "rounds": by_round}
