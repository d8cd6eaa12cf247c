"""Child processes that die with the test run that started them.

A test or fixture that dies (a timeout, a crash of pytest itself) never reaches its
``finally``, and the services it started would keep running as orphans, holding ports and
CPU for every later test. On Linux the kernel can send the child a signal when its parent
dies (``prctl(PR_SET_PDEATHSIG)``); elsewhere this does nothing.
"""

from __future__ import annotations

import ctypes
import signal
import sys
from collections.abc import Callable

PR_SET_PDEATHSIG = 1  # from <linux/prctl.h>


def _kill_me_when_parent_dies() -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


def die_with_parent() -> Callable[[], None] | None:
    """A ``preexec_fn`` for :class:`subprocess.Popen`: SIGKILL the child when this process dies."""
    return _kill_me_when_parent_dies if sys.platform.startswith("linux") else None
