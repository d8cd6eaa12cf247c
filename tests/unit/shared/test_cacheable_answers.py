"""A cacheable answer's ``fresh_until`` travels inside the sealed reply envelope, and only there."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from shared.bus import subjects
from shared.bus.answers import Cacheable
from shared.bus.messaging import NOT_CACHEABLE, RpcClient, answer
from shared.bus.sealing import BusSeal
from shared.contracts.authorization import Authorization, GetAuthorization
from shared.tokens.freshness import cacheable_until_due
from shared.tokens.model import RefreshPolicy, StoredToken

SEAL = BusSeal("unit-test-bus-key-0123456789abcdef")
DONE = Authorization(id="ac_1", status="completed", user_id="u", provider_id="github")
UNTIL = datetime(2030, 1, 1, 12, 0, 0, 500_000, tzinfo=UTC)


@dataclass
class Msg:
    data: bytes
    headers: dict[str, str] | None = None


class Bus:
    """A connection whose requests the ``use_case`` answers through the real envelope and seal."""

    is_connected = True

    def __init__(self, use_case) -> None:
        self.use_case, self.replies = use_case, []

    async def request(self, subject, data, *, timeout, headers=None) -> Msg:
        body, request_id = SEAL.open_request(subject, data)
        reply = await answer(GetAuthorization, body, self.use_case)
        self.replies.append(reply.data)
        return Msg(SEAL.seal_reply(subject, request_id, reply.data))


async def _call(result) -> tuple[object, float, Bus]:
    async def use_case(_: GetAuthorization):
        return result

    bus = Bus(use_case)
    client = RpcClient(bus, seal=SEAL)  # type: ignore[arg-type]
    got, until = await client.call_fresh(subjects.AUTH_STATUS, GetAuthorization(authorization_id="ac_1"))
    return got, until, bus


class TestEnvelope:
    async def test_fresh_until_comes_back_as_the_same_instant(self):
        result, until, _ = await _call(Cacheable(DONE, UNTIL))
        assert result == DONE.model_dump(mode="json") and until == UNTIL.timestamp()

    async def test_no_limit_of_its_own_comes_back_as_infinity(self):
        _, until, _ = await _call(Cacheable(DONE, None))
        assert until == math.inf

    async def test_a_plain_result_is_not_cacheable_and_its_envelope_is_as_before(self):
        result, until, bus = await _call(DONE)
        assert until == NOT_CACHEABLE and result == DONE.model_dump(mode="json")
        assert b"fresh_until" not in bus.replies[0]

    async def test_the_mark_is_inside_the_sealed_reply_not_beside_it(self):
        _, _, bus = await _call(Cacheable(DONE, UNTIL))
        assert b'"fresh_until":' in bus.replies[0]
        request = SEAL.seal_request(subjects.AUTH_STATUS, b"{}")
        sealed = SEAL.seal_reply(subjects.AUTH_STATUS, BusSeal.request_id(request), bus.replies[0])
        assert b"fresh_until" not in sealed

    async def test_call_raw_still_gives_the_result_alone(self):
        async def use_case(_: GetAuthorization):
            return Cacheable(DONE, UNTIL)

        client = RpcClient(Bus(use_case), seal=SEAL)  # type: ignore[arg-type]
        got = await client.call_raw(subjects.AUTH_STATUS, GetAuthorization(authorization_id="ac_1"))
        assert got == DONE.model_dump(mode="json")


class TestUntilDue:
    NOW = datetime(2030, 1, 1, tzinfo=UTC)

    def _token(self, lifetime: timedelta | None) -> StoredToken:
        expires = None if lifetime is None else self.NOW + lifetime
        return StoredToken(access_token="t", issued_at=self.NOW, expires_at=expires, scopes=[])

    def test_an_answer_lives_until_its_token_falls_due_for_refresh(self):
        policy = RefreshPolicy(margin_seconds=300, lifetime_fraction=0.25)
        marked = cacheable_until_due(DONE, self._token(timedelta(hours=1)), policy, now=self.NOW)
        assert isinstance(marked, Cacheable) and marked.fresh_until == self.NOW + timedelta(minutes=55)

    def test_a_token_that_never_expires_gives_no_limit(self):
        marked = cacheable_until_due(DONE, self._token(None), RefreshPolicy(), now=self.NOW)
        assert isinstance(marked, Cacheable) and marked.fresh_until is None

    def test_an_answer_whose_token_is_already_due_is_not_cacheable(self):
        token = self._token(timedelta(minutes=2))  # inside its margin from the start
        later = self.NOW + timedelta(minutes=1, seconds=31)
        assert cacheable_until_due(DONE, token, RefreshPolicy(), now=later) is DONE
