"""Work beside the requests: work left to run after a reply runs, its failures stay inside, and
a stop waits for it; a periodic loop runs its rounds, survives a failing one, wakes and stops."""

from __future__ import annotations

import asyncio

from structlog.testing import capture_logs

from shared.runtime.background import Background, Periodic


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


class Rounds:
    """A periodic loop's work: counts its rounds, fails the first ``failing``; ``reached`` is set
    at round ``until``."""

    def __init__(self, *, until: int = 1, failing: int = 0) -> None:
        self.count, self.until, self.failing = 0, until, failing
        self.reached = asyncio.Event()

    async def __call__(self) -> None:
        self.count += 1
        if self.count >= self.until:
            self.reached.set()
        if self.count <= self.failing:
            raise ConnectionError("redis away")

    async def wait(self) -> None:
        await asyncio.wait_for(self.reached.wait(), 10)  # bounds a failure only


async def test_a_periodic_loop_runs_at_once_when_asked_and_then_again_every_interval():
    rounds = Rounds(until=3)
    loop = Periodic(rounds, 0.01, name="t", failed="t.failed", at_once=True)
    loop.start()
    await asyncio.sleep(0)
    assert rounds.count == 1  # before any interval passed
    await rounds.wait()
    await loop.stop()
    stopped_at = rounds.count
    await asyncio.sleep(0.05)
    assert rounds.count == stopped_at


async def test_a_failing_round_is_logged_and_the_next_round_still_comes():
    rounds = Rounds(until=3, failing=2)
    loop = Periodic(rounds, 0.01, name="t", failed="t.failed")
    with capture_logs() as logs:
        loop.start()
        await rounds.wait()
        await loop.stop()
    assert [line["event"] for line in logs if line["log_level"] == "warning"] == ["t.failed", "t.failed"]
    assert logs[0]["error"] == "ConnectionError"


async def test_a_wake_brings_the_next_round_forward():
    rounds = Rounds()
    loop = Periodic(rounds, 3600, name="t", failed="t.failed")
    loop.start()
    await asyncio.sleep(0.01)
    assert rounds.count == 0  # the first round waits one interval
    loop.wake()
    await rounds.wait()
    await loop.stop()
    assert rounds.count == 1


async def test_a_loop_asked_for_a_last_round_runs_it_at_stop_and_logs_its_failure():
    flushed = Rounds()
    loop = Periodic(flushed, 3600, name="t", failed="t.failed", last_round_at_stop=True)
    loop.start()
    await loop.stop()
    assert flushed.count == 1  # no interval passed: the stop's own round

    failing = Rounds(failing=1)
    loop = Periodic(failing, 3600, name="t", failed="t.failed", last_round_at_stop=True)
    loop.start()
    with capture_logs() as logs:
        await loop.stop()  # does not raise
    assert [line["event"] for line in logs] == ["t.failed"]


async def test_a_stop_right_after_a_wake_still_stops_the_loop():
    loop = Periodic(Rounds(), 5, name="t", failed="t.failed")
    loop.start()
    await asyncio.sleep(0.01)  # the loop waits for a wake
    loop.wake()  # an event was just committed...
    stopping = asyncio.create_task(loop.stop())  # ...and the service is told to stop
    done, _ = await asyncio.wait({stopping}, timeout=2)  # not wait_for: it would cancel the stop
    if not done:
        loop._task.cancel()  # type: ignore[union-attr]
    assert done == {stopping}


async def test_a_periodic_loop_pauses_with_the_sleep_it_is_given():
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)
        await asyncio.sleep(0)

    rounds = Rounds(until=2)
    loop = Periodic(rounds, 7, name="t", failed="t.failed", sleep=sleep)
    loop.start()
    await rounds.wait()
    await loop.stop()
    assert slept[:2] == [7, 7]


async def test_a_stop_ends_a_loop_whose_round_forgot_the_cancel():
    """Python 3.11's ``wait_for`` (under every redis-py command) may return a result and forget
    the cancel that arrived with it; the stop must still end the loop."""
    in_round = asyncio.Event()
    forgotten: list[bool] = []

    async def forgetful() -> None:
        in_round.set()
        try:
            await asyncio.sleep(60)
        except asyncio.CancelledError:
            if not forgotten:
                forgotten.append(True)
                return  # the cancel is lost once, as wait_for loses it
            raise

    loop = Periodic(forgetful, 0.01, name="forgetful", failed="f", at_once=True)
    loop.start()
    await in_round.wait()
    stopping = asyncio.create_task(loop.stop())
    done, _ = await asyncio.wait({stopping}, timeout=2)
    stopping.cancel()  # only if it hangs: the test's end must not wait for it
    assert forgotten == [True]
    assert stopping in done, "the stop waited for a loop that went on"


async def test_work_starts_after_a_task_woken_later_in_the_same_turn():
    # nats-py writes a reply in its flusher task, woken by the publish that follows run().
    order: list[str] = []
    wake: asyncio.Queue[None] = asyncio.Queue()

    async def flusher() -> None:
        await wake.get()
        order.append("reply written")

    async def work() -> None:
        order.append("work")

    writer = asyncio.create_task(flusher())
    await asyncio.sleep(0)  # the flusher waits for its queue
    background = Background()
    background.run(work(), name="w")
    wake.put_nowait(None)  # the reply is published in the same turn
    await background.drain(timeout=1)
    await writer
    assert order == ["reply written", "work"]
