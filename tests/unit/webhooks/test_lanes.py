"""Per-endpoint lanes: a bounded number of requests per endpoint, short waits for first attempts only."""

import asyncio

import pytest

from services.webhooks import lanes as lanes_module
from services.webhooks.lanes import Lanes


async def hold(lanes: Lanes, endpoint_id: str, release: asyncio.Event) -> None:
    """Take a slot and keep it until ``release`` is set."""
    assert await lanes.take(endpoint_id)
    await lanes.run(endpoint_id, release.wait)


async def fill(lanes: Lanes, endpoint_id: str, count: int) -> tuple[asyncio.Event, list[asyncio.Task[None]]]:
    release = asyncio.Event()
    holders = [asyncio.create_task(hold(lanes, endpoint_id, release)) for _ in range(count)]
    await asyncio.sleep(0)
    return release, holders


class TestTake:
    async def test_a_free_slot_is_taken_at_once(self):
        lanes = Lanes(2)
        assert await lanes.take("e1")
        assert await lanes.take("e1")

    async def test_a_full_lane_that_keeps_moving_is_waited_for(self):
        lanes = Lanes(1)
        release, holders = await fill(lanes, "e1", 1)
        waiter = asyncio.create_task(lanes.take("e1"))
        await asyncio.sleep(0.01)
        release.set()
        assert await waiter
        await asyncio.gather(*holders)

    async def test_a_stalled_lane_is_given_up_on_so_the_delivery_can_be_queued(self, monkeypatch):
        monkeypatch.setattr(lanes_module, "STALL_SECONDS", 0.05)
        lanes = Lanes(1)
        release, holders = await fill(lanes, "e1", 1)
        started = asyncio.get_running_loop().time()
        assert not await lanes.take("e1")
        assert asyncio.get_running_loop().time() - started < 0.5
        release.set()
        await asyncio.gather(*holders)

    async def test_a_lane_measured_as_slow_sends_first_attempts_to_the_queue_without_waiting(self):
        lanes = Lanes(1)
        lane = lanes._lane("e1")
        lane.request_time = 5.0  # a receiver that answers in 5 s: the queue ahead would take too long
        release, holders = await fill(lanes, "e1", 1)
        started = asyncio.get_running_loop().time()
        assert not await lanes.take("e1")
        assert asyncio.get_running_loop().time() - started < 0.01
        release.set()
        await asyncio.gather(*holders)

    async def test_one_endpoint_being_full_leaves_the_others_free(self):
        lanes = Lanes(1)
        release, holders = await fill(lanes, "slow", 1)
        assert await lanes.take("fast")
        release.set()
        await asyncio.gather(*holders)


class TestWait:
    async def test_a_long_wait_tells_jetstream_it_is_still_being_worked_on(self):
        lanes = Lanes(1)
        release, holders = await fill(lanes, "e1", 1)
        beats: list[str] = []
        beaten_twice = asyncio.Event()

        async def beat() -> None:
            beats.append("in_progress")
            if len(beats) >= 2:
                beaten_twice.set()

        waiter = asyncio.create_task(lanes.wait("e1", beat=beat, every=0.02))
        async with asyncio.timeout(10):  # bounds a failure only: a loaded machine beats late
            await beaten_twice.wait()
        assert not waiter.done(), "the wait ended while the lane was still full"
        release.set()
        await waiter
        assert len(beats) >= 2
        await asyncio.gather(*holders)

    async def test_a_lane_with_many_waiting_is_crowded(self, monkeypatch):
        monkeypatch.setattr(lanes_module, "LANE_DEPTH_FACTOR", 2)
        lanes = Lanes(1)
        release, holders = await fill(lanes, "e1", 1)

        async def beat() -> None:
            pass

        waiters = [asyncio.create_task(lanes.wait("e1", beat=beat, every=1)) for _ in range(2)]
        await asyncio.sleep(0)
        assert lanes.crowded("e1") and not lanes.crowded("e2")
        release.set()
        await asyncio.gather(*holders)
        for waiter in waiters:
            await waiter
            lanes._lane("e1").finished(0.0, 0.0)


class TestRun:
    async def test_the_slot_comes_back_and_the_request_time_is_measured_even_when_work_fails(self):
        lanes = Lanes(1)
        assert await lanes.take("e1")

        async def boom() -> None:
            await asyncio.sleep(0.01)
            raise RuntimeError("bug")

        before = lanes._lane("e1").request_time
        with pytest.raises(RuntimeError):
            await lanes.run("e1", boom)
        assert await lanes.take("e1")
        assert lanes._lane("e1").request_time != before


async def done() -> None:
    pass


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class TestForgetting:
    async def test_lanes_unused_for_the_idle_time_are_forgotten(self):
        clock = Clock()
        lanes = Lanes(2, clock=clock)
        for endpoint_id in ("deleted", "also-gone"):
            assert await lanes.take(endpoint_id)
            await lanes.run(endpoint_id, done)
        clock.now += lanes_module.IDLE_SECONDS + lanes_module.PRUNE_EVERY_SECONDS
        assert await lanes.take("live")
        assert lanes.held == 1

    async def test_a_lane_with_a_request_in_flight_is_kept_however_long_it_takes(self):
        clock = Clock()
        lanes = Lanes(1, clock=clock)
        release, holders = await fill(lanes, "slow", 1)
        clock.now += 10 * lanes_module.IDLE_SECONDS
        assert await lanes.take("other")
        assert lanes.held == 2 and lanes.crowded("slow") is False
        assert not await lanes.take("slow")  # still full: the held slot was not forgotten
        release.set()
        await asyncio.gather(*holders)

    async def test_a_lane_used_recently_is_kept(self):
        clock = Clock()
        lanes = Lanes(1, clock=clock)
        assert await lanes.take("busy")
        await lanes.run("busy", done)
        clock.now += lanes_module.IDLE_SECONDS / 2 + lanes_module.PRUNE_EVERY_SECONDS
        assert await lanes.take("other")
        assert lanes.held == 2
