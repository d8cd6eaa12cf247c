"""Child processes that die with the test run that started them.

A test or fixture that dies (a timeout, a crash of pytest itself) never reaches its
``finally``, and the services it started would keep running as orphans, holding ports and
CPU for every later test. On Linux the kernel can send the child a signal when its parent
dies (``prctl(PR_SET_PDEATHSIG)``); elsewhere this does nothing.
"""

from __future__ import annotations

import contextlib
import ctypes
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx

PR_SET_PDEATHSIG = 1  # from <linux/prctl.h>


def _kill_me_when_parent_dies() -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


def die_with_parent() -> Callable[[], None] | None:
    """A ``preexec_fn`` for :class:`subprocess.Popen`: SIGKILL the child when this process dies."""
    return _kill_me_when_parent_dies if sys.platform.startswith("linux") else None


@contextlib.contextmanager
def serving_process(
    args: list[str],
    *,
    ready: Callable[[], bool],
    what: str,
    cwd: Path,
    env: dict[str, str] | None = None,
    start_timeout_s: float,
) -> Iterator[subprocess.Popen[bytes]]:
    """Run ``args`` as a child that dies with us; yield it once ``ready()`` says it serves.

    ``ready`` is asked every 0.1 s; a connection refused counts as not yet. The child is
    terminated after the block.
    """
    proc = subprocess.Popen(args, cwd=cwd, env=env, preexec_fn=die_with_parent())
    try:
        deadline = time.monotonic() + start_timeout_s
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"{what} exited with {proc.returncode}")
            with contextlib.suppress(httpx.TransportError):
                if ready():
                    break
            if time.monotonic() > deadline:
                raise TimeoutError(f"{what} did not start within {start_timeout_s} s")
            time.sleep(0.1)
        yield proc
    finally:
        proc.terminate()
        proc.wait(timeout=10)
