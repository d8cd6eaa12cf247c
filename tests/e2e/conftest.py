"""Fixtures shared by the end-to-end modules."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.e2e.webhook_support import Receiver, RunningReceiver


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """A webhook receiver of ours on a free loopback port, recording what it is sent."""
    recv = Receiver()
    with RunningReceiver(recv):
        yield recv
