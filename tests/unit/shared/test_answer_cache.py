"""The gateway's answer cache: what it keeps, for how long, and what a change notice drops."""

from __future__ import annotations

import math

from shared.bus.answer_cache import AnswerCache

NO_LIMIT = math.inf


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def cache(seconds: float = 2.0, entries: int = 100) -> tuple[AnswerCache, Clock]:
    clock = Clock()
    return AnswerCache(seconds=seconds, max_entries=entries, clock=clock), clock


def keep(
    answers: AnswerCache,
    key: str,
    *,
    project: str = "p",
    user: str | None = "u",
    provider: str | None = "github",
    until: float = NO_LIMIT,
) -> None:
    answers.put(
        (project, key),
        key.encode(),
        ticket=answers.ticket(project),
        project=project,
        user_id=user,
        provider_id=provider,
        fresh_until=until,
    )


class TestLifetime:
    def test_an_answer_is_served_until_its_fresh_until_and_not_after(self):
        answers, clock = cache(seconds=10)
        keep(answers, "a", until=clock.now + 1)
        clock.now += 0.9
        assert answers.get(("p", "a")) == b"a"
        clock.now += 0.1
        assert answers.get(("p", "a")) is None

    def test_an_answer_without_a_limit_of_its_own_lives_the_configured_seconds(self):
        answers, clock = cache(seconds=2)
        keep(answers, "a")
        clock.now += 1.9
        assert answers.get(("p", "a")) == b"a"
        clock.now += 0.1
        assert answers.get(("p", "a")) is None

    def test_an_answer_the_service_did_not_mark_cacheable_is_not_kept(self):
        answers, _ = cache()
        keep(answers, "a", until=-math.inf)
        assert answers.get(("p", "a")) is None and len(answers) == 0

    def test_a_cache_of_zero_seconds_is_off_and_keeps_nothing(self):
        answers, _ = cache(seconds=0)
        keep(answers, "a")
        assert not answers.enabled and answers.get(("p", "a")) is None

    def test_it_holds_at_most_its_entry_count_dropping_the_least_recently_used(self):
        answers, _ = cache(entries=2)
        keep(answers, "a")
        keep(answers, "b")
        answers.get(("p", "a"))
        keep(answers, "c")
        assert len(answers) == 2
        assert answers.get(("p", "b")) is None and answers.get(("p", "a")) == b"a"


class TestNotices:
    def test_a_notice_for_a_connection_drops_its_answers_and_no_other(self):
        answers, _ = cache()
        keep(answers, "a", provider="github")
        keep(answers, "b", provider="google")
        keep(answers, "c", user="someone-else", provider="github")
        answers.forget("p", "u", "github")
        assert answers.get(("p", "a")) is None
        assert answers.get(("p", "b")) == b"b" and answers.get(("p", "c")) == b"c"

    def test_a_notice_for_a_user_drops_every_answer_of_that_user(self):
        answers, _ = cache()
        keep(answers, "a", provider="github")
        keep(answers, "b", provider=None)
        answers.forget("p", "u")
        assert answers.get(("p", "a")) is None and answers.get(("p", "b")) is None

    def test_a_notice_for_a_connection_keeps_an_answer_of_the_user_that_needs_no_token(self):
        answers, _ = cache()
        keep(answers, "a", provider=None)
        answers.forget("p", "u", "github")
        assert answers.get(("p", "a")) == b"a"
        answers.forget("p", "u")  # still indexed after the first notice
        assert answers.get(("p", "a")) is None

    def test_a_notice_for_a_project_drops_its_answers_and_leaves_another_projects(self):
        answers, _ = cache()
        keep(answers, "a", project="p")
        keep(answers, "b", project="p", user="v")
        keep(answers, "c", project="q")
        answers.forget("p")
        assert answers.get(("p", "a")) is None and answers.get(("p", "b")) is None
        assert answers.get(("q", "c")) == b"c"

    def test_a_notice_for_every_project_drops_everything(self):
        answers, _ = cache()
        keep(answers, "a", project="p")
        keep(answers, "b", project="q")
        answers.forget(None)
        assert len(answers) == 0

    def test_an_answer_read_while_a_notice_of_its_project_arrived_is_not_kept(self):
        answers, _ = cache()
        ticket = answers.ticket("p")
        answers.forget("p", "u", "github")  # the write happened while the read was under way
        answers.put(
            ("p", "a"), b"old", ticket=ticket, project="p", user_id="u", provider_id="x", fresh_until=NO_LIMIT
        )
        assert answers.get(("p", "a")) is None

    def test_an_answer_read_while_another_projects_notice_arrived_is_kept(self):
        answers, _ = cache()
        ticket = answers.ticket("p")
        answers.forget("q", "u")
        answers.put(
            ("p", "a"), b"a", ticket=ticket, project="p", user_id="u", provider_id="x", fresh_until=NO_LIMIT
        )
        assert answers.get(("p", "a")) == b"a"


class TestConnection:
    def test_nothing_is_served_while_the_bus_is_down_and_a_reconnect_forgets_everything(self):
        answers, _ = cache()
        state: list[int | None] = [0]
        answers.follow(lambda: state[0])
        keep(answers, "a")
        state[0] = None
        assert answers.get(("p", "a")) is None
        keep(answers, "b")  # not kept while down
        state[0] = 1  # reconnected: notices sent meanwhile are lost
        assert answers.get(("p", "a")) is None and len(answers) == 0
        keep(answers, "c")
        assert answers.get(("p", "c")) == b"c"

    def test_a_reconnect_noticed_between_two_reads_forgets_what_was_kept(self):
        answers, _ = cache()
        state = [0]
        answers.follow(lambda: state[0])
        keep(answers, "a")
        state[0] = 1
        assert answers.get(("p", "a")) is None


class TestServe:
    async def test_a_miss_asks_once_and_a_hit_answers_the_same_bytes_without_asking(self):
        answers, _ = cache()
        asked: list[int] = []

        async def ask() -> tuple[dict[str, str], float]:
            asked.append(1)
            return {"status": "completed", "user_id": "u", "provider_id": "github"}, NO_LIMIT

        first = await answers.serve(("k",), "p", ask, lambda r: repr(r).encode())
        second = await answers.serve(("k",), "p", ask, lambda r: repr(r).encode())
        assert first[1] is False and second == (first[0], True) and asked == [1]
        answers.forget("p", "u", "github")
        assert (await answers.serve(("k",), "p", ask, lambda r: repr(r).encode()))[1] is False
