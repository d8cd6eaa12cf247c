"""The gateway's callback route asks the authorizer again while the answer is pending or
missing: a callback is safe to repeat, so a killed authorizer costs one attempt, not the page.
A finished authorization goes to the waiting long-polls first, the page after."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

import pytest

from services.gateway.adapters import CompletionWaiters
from services.gateway.routes import auth_pages
from shared.contracts.authorization import Authorization, CallbackOutcome, OAuthCallback
from shared.errors import ServiceUnavailable


class ScriptedAuthorizer:
    """Answers each ask with the next item: an outcome, or an error to raise."""

    def __init__(self, *answers: CallbackOutcome | Exception) -> None:
        self.answers = list(answers)
        self.asked: list[OAuthCallback] = []

    async def call(self, subject, request, result, *, timeout=None):
        self.asked.append(request)
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer


def request_with(authorizer: ScriptedAuthorizer) -> SimpleNamespace:
    state = SimpleNamespace(rpc=authorizer, waiters=CompletionWaiters())
    return SimpleNamespace(app=SimpleNamespace(state=state))


@pytest.fixture(autouse=True)
def no_pause(monkeypatch):
    monkeypatch.setattr(auth_pages, "RETRY_PAUSE_S", 0.0)


CALLBACK = OAuthCallback(state="s", code="c", wait_seconds=auth_pages.FOLLOW_WAIT_S)
FAILED = CallbackOutcome(status="failed", authorization_id="ac_1", message="interrupted")


async def test_an_authorizer_that_vanished_and_a_pending_answer_are_asked_again_until_the_outcome():
    authorizer = ScriptedAuthorizer(
        ServiceUnavailable("timed out waiting for vk.auth.callback"),
        ServiceUnavailable("no service is answering vk.auth.callback"),
        CallbackOutcome(status="pending", authorization_id="ac_1"),
        FAILED,
    )
    outcome = await auth_pages.callback_outcome(request_with(authorizer), CALLBACK)
    assert outcome == FAILED
    assert authorizer.asked == [CALLBACK] * 4


async def test_a_page_is_answered_at_once_when_the_first_ask_decides():
    authorizer = ScriptedAuthorizer(FAILED)
    assert await auth_pages.callback_outcome(request_with(authorizer), CALLBACK) == FAILED
    assert len(authorizer.asked) == 1


async def test_past_the_budget_the_authorizers_absence_is_the_answer(monkeypatch):
    monkeypatch.setattr(auth_pages, "CALLBACK_BUDGET_S", 0.0)
    authorizer = ScriptedAuthorizer(ServiceUnavailable("timed out waiting for vk.auth.callback"))
    with pytest.raises(ServiceUnavailable):
        await auth_pages.callback_outcome(request_with(authorizer), CALLBACK)


async def test_a_long_poll_handed_the_finished_authorization_answers_before_the_callback_page():
    done = Authorization(id="ac_1", status="completed", provider_id="hooli", user_id="alice")
    authorizer = ScriptedAuthorizer(
        CallbackOutcome(status="completed", authorization_id="ac_1", authorization=done)
    )
    request = request_with(authorizer)
    waiters: CompletionWaiters = request.app.state.waiters
    future = waiters.register("ac_1")
    poll = asyncio.create_task(waiters.wait("ac_1", future, 3600.0))  # an hour: it returns only if handed
    await asyncio.sleep(0)
    await auth_pages.callback_outcome(request, CALLBACK)
    # The page is not answered yet (its route goes on after this): the long-poll already has its answer.
    assert poll.done() and poll.result()["status"] == "completed"
