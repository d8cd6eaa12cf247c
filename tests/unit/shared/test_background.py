"""Work left to run after a reply: it runs, its failures stay inside, and a stop waits for it."""

from __future__ import annotations

import asyncio

from shared.runtime.background import Background


async def test_work_runs_after_the_current_turn():
    done: list[str] = []

    async def work() -> None:
        done.append("ran")

    background = Background()
    background.run(work(), name="w")
    assert done == []  # not before the caller's reply
    await background.drain(timeout=1)
    assert done == ["ran"]


async def test_a_failure_is_logged_not_raised_and_other_work_still_runs():
    done: list[str] = []

    async def broken() -> None:
        raise ConnectionError("redis away")

    async def fine() -> None:
        done.append("fine")

    background = Background()
    background.run(broken(), name="broken")
    background.run(fine(), name="fine")
    await background.drain(timeout=1)
    assert done == ["fine"]


async def test_a_stop_waits_for_the_grace_and_cancels_what_is_left():
    started = asyncio.Event()
    cancelled: list[bool] = []

    async def slow() -> None:
        started.set()
        try:
            await asyncio.sleep(60)
        except asyncio.CancelledError:
            cancelled.append(True)
            raise

    background = Background()
    background.run(slow(), name="slow")
    await started.wait()
    await background.drain(timeout=0.05)
    await asyncio.sleep(0)
    assert cancelled == [True]
