"""The test kit's children die with the process that started them, so a dead test leaks nothing."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

# The kernel signals at once; this bound only keeps a failing run short.
DEATH_BOUND_S = 30

# A parent that starts a long sleeper with die_with_parent(), prints its pid, then waits forever.
PARENT = """
import subprocess, sys, time
from tests.support.processes import die_with_parent
child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"], preexec_fn=die_with_parent())
print(child.pid, flush=True)
time.sleep(600)
"""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie (dead, not yet reaped by init) counts as gone.
    with open(f"/proc/{pid}/stat") as stat:
        return stat.read().split(")")[-1].split()[0] != "Z"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux's")
def test_a_child_started_by_the_kit_is_killed_when_its_parent_is_killed() -> None:
    parent = subprocess.Popen([sys.executable, "-c", PARENT], stdout=subprocess.PIPE, text=True)
    assert parent.stdout is not None
    child_pid = int(parent.stdout.readline())
    assert _alive(child_pid)

    parent.send_signal(signal.SIGKILL)
    parent.wait(5)

    deadline = time.monotonic() + DEATH_BOUND_S
    while _alive(child_pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _alive(child_pid)
