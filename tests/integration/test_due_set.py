"""The leased due set (shared/runtime/due.py) on a real Valkey: claims never overlap, and a
claimer that never finished gives its members back once its lease passes."""

from __future__ import annotations

import secrets

import pytest

from shared.runtime.due import DueSet

pytestmark = pytest.mark.integration


@pytest.fixture
def due(redis) -> DueSet:
    return DueSet(redis, f"vktest:{secrets.token_hex(4)}:due")


async def test_two_claimers_at_the_same_moment_never_take_the_same_member(due):
    for i in range(10):
        await due.add(f"m{i}", 100.0 + i)
    first = await due.claim(now=200.0, lease_until=260.0, limit=6)
    second = await due.claim(now=200.0, lease_until=260.0, limit=6)
    taken = [c.member for c in first + second]
    assert sorted(taken) == sorted(f"m{i}" for i in range(10)) and len(set(taken)) == 10


async def test_only_what_is_due_is_claimed(due):
    await due.add("now", 100.0)
    await due.add("later", 300.0)
    assert [c.member for c in await due.claim(now=200.0, lease_until=260.0, limit=10)] == ["now"]


async def test_a_member_whose_claimer_died_comes_back_after_the_lease_and_only_the_new_claim_removes_it(due):
    await due.add("run", 100.0)
    [dead] = await due.claim(now=200.0, lease_until=260.0, limit=10)
    assert await due.claim(now=259.0, lease_until=319.0, limit=10) == []
    [again] = await due.claim(now=261.0, lease_until=321.0, limit=10)
    assert again.member == "run" and again.due == dead.lease_until
    assert not await due.done(dead)  # the first claimer, back late, finds it taken over
    assert await due.done(again) and await due.size() == 0
