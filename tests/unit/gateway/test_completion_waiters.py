"""The gateway's long-poll waiters: woken by events, or answered directly by a hand-over.

A woken waiter and a timed-out one both return None, so every waiter here waits an hour:
one that has returned was woken. Wakes that happen at once are checked after a few turns
of the event loop (``settle``), never against a clock.
"""

from __future__ import annotations

import asyncio
import json
from types import SimpleNamespace

from services.gateway.adapters import CompletionWaiters

DONE = {"id": "ac_1", "status": "completed", "context": {"token": "tok"}}
FOREVER_S = 3600.0  # no test lasts this long: a waiter that returned was woken, not timed out
DEADLINE_S = 30.0  # bounds a wait that needs a timer of the waiters' own, so a failure cannot hang


def event(auth_id: str) -> SimpleNamespace:
    return SimpleNamespace(data=json.dumps({"authorization_id": auth_id}).encode())


async def waiting(waiters: CompletionWaiters, auth_id: str = "ac_1") -> asyncio.Task:
    future = waiters.register(auth_id)
    task = asyncio.create_task(waiters.wait(auth_id, future, FOREVER_S))
    await asyncio.sleep(0)
    return task


async def settle() -> None:
    """Give the loop a few turns: enough for a waiter whose future was resolved to return."""
    for _ in range(10):
        await asyncio.sleep(0)


async def test_a_handed_over_authorization_is_the_answer():
    waiters = CompletionWaiters()
    task = await waiting(waiters)
    waiters.hand_over(DONE)
    await settle()
    assert task.done() and task.result() == DONE


async def test_a_hand_over_says_whether_it_answered_anyone():
    waiters = CompletionWaiters()
    assert waiters.hand_over(DONE) is False  # nobody waits for it
    task = await waiting(waiters)
    assert waiters.hand_over({"id": "ac_1", "status": "pending"}) is False
    assert waiters.hand_over(DONE) is True
    await settle()
    assert task.result() == DONE


async def test_an_event_wakes_the_waiter_to_read_the_status_itself():
    waiters = CompletionWaiters()
    task = await waiting(waiters)
    await waiters._on_event(event("ac_1"))
    await settle()
    assert task.done() and task.result() is None


async def test_an_event_for_another_authorization_leaves_the_waiter_waiting():
    waiters = CompletionWaiters()
    task = await waiting(waiters)
    await waiters._on_event(event("ac_other"))
    await settle()
    assert not task.done()
    waiters.hand_over(DONE)
    await settle()
    assert task.done() and task.result() == DONE


async def test_an_event_that_overtakes_the_callback_reply_still_lets_the_reply_answer():
    waiters = CompletionWaiters()
    waiters.HANDOVER_GRACE_S = FOREVER_S  # the reply, not the grace timer, must be what answers
    task = await waiting(waiters)
    with waiters.finishing():
        await waiters._on_event(event("ac_1"))  # read before the reply that carries the token
        await settle()
        assert not task.done()
        waiters.hand_over(DONE)
    await settle()
    assert task.done() and task.result() == DONE


async def test_an_event_during_an_unrelated_callback_still_wakes_the_waiter_after_the_grace():
    waiters = CompletionWaiters()
    task = await waiting(waiters)
    with waiters.finishing():  # another flow's callback, slow at its provider, never ends here
        await waiters._on_event(event("ac_1"))
        assert await asyncio.wait_for(task, DEADLINE_S) is None  # woken: its own hour is far off


async def test_the_end_of_the_callbacks_in_flight_releases_a_held_wake():
    waiters = CompletionWaiters()
    waiters.HANDOVER_GRACE_S = FOREVER_S  # only the end of the callback can release it here
    task = await waiting(waiters)
    with waiters.finishing():
        await waiters._on_event(event("ac_1"))
        await settle()
        assert not task.done()
    await settle()
    assert task.done() and task.result() is None


async def test_a_pending_authorization_is_not_handed_over():
    waiters = CompletionWaiters()
    task = await waiting(waiters)
    waiters.hand_over({"id": "ac_1", "status": "pending"})
    await settle()
    assert not task.done()
    task.cancel()


async def test_a_waiter_that_times_out_gets_nothing_and_leaves_no_interest_behind():
    waiters = CompletionWaiters()
    future = waiters.register("ac_1")
    assert await waiters.wait("ac_1", future, 0.01) is None
    assert future.cancelled()  # the time ran out: nothing resolved it
    assert waiters._waiting == {}
    waiters.hand_over(DONE)  # a late hand-over finds nobody and harms nobody
    assert waiters._waiting == {}
