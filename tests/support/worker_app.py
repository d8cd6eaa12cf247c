"""A real arcade-serve HTTP worker hosting our test toolkits.

Run as ``python -m tests.support.worker_app --port N --secret S`` (from the
repo root). It is arcade-serve's own ``FastAPIWorker`` under uvicorn: the same
JWT check, routes and error answers as a worker deployed by an Arcade user.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import socket
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import uvicorn
from arcade_serve.fastapi import FastAPIWorker
from fastapi import FastAPI

from services.executor.sources import load_toolkit
from tests.support.deadlines import PROCESS_START_S
from tests.support.processes import serving_process

DEFAULT_TOOLKIT = "tests.support.toolkits.hooli"
REPO_ROOT = Path(__file__).resolve().parents[2]


def build_app(secret: str, toolkits: list[str]) -> FastAPI:
    """Build the FastAPI app of a worker that serves ``toolkits``.

    Args:
        secret: The worker secret the engine's JWTs must be signed with.
        toolkits: Toolkit names (installed distributions or dotted packages).

    Returns:
        The app, routes under ``/worker``.
    """
    app = FastAPI(title="valetkey test worker")
    worker = FastAPIWorker(app, secret=secret)
    for name in toolkits:
        worker.register_toolkit(load_toolkit(name))
    return app


def main(argv: list[str] | None = None) -> None:
    """Parse the command line and serve until killed."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--secret", required=True)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--toolkit", action="append", dest="toolkits")
    args = parser.parse_args(argv)
    app = build_app(args.secret, args.toolkits or [DEFAULT_TOOLKIT])
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning")


def free_port() -> int:
    """A loopback port that was free a moment ago."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def running_worker(
    secret: str,
    toolkits: list[str] | None = None,
    start_timeout_s: float = PROCESS_START_S,
    *,
    port: int | None = None,
    env: dict[str, str] | None = None,
) -> Iterator[str]:
    """Run this module as a subprocess worker; yield its base URL; stop it after.

    Args:
        secret: Worker secret.
        toolkits: Toolkits to host (default: hooli).
        start_timeout_s: How long to wait for ``/worker/health``.
        port: Where it listens (a free port by default); a worker redeployed keeps its port.
        env: Extra environment variables (on top of this process's).
    """
    port = port or free_port()
    args = [sys.executable, "-m", "tests.support.worker_app", "--port", str(port), "--secret", secret]
    for name in toolkits or []:
        args += ["--toolkit", name]
    environ = {**os.environ, **(env or {})}
    url = f"http://127.0.0.1:{port}"

    def healthy() -> bool:
        return httpx.get(f"{url}/worker/health", timeout=1).status_code == 200

    with serving_process(
        args, ready=healthy, what="worker", cwd=REPO_ROOT, env=environ, start_timeout_s=start_timeout_s
    ):
        yield url


if __name__ == "__main__":
    main()
