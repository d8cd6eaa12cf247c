"""A project's session verification over engine.yaml's (services/authorizer/session_settings.py)."""

from __future__ import annotations

from typing import Any

import pytest

from services.authorizer.session_settings import (
    SessionVerification,
    VerificationChoice,
    effective,
    stored_choice,
    view,
    with_flow_id,
)
from shared.contracts.authorization import VerificationSettingsWrite, VerifierTest
from shared.errors import BadRequest, Forbidden, UserMismatch

ENGINE_YAML = VerificationChoice("custom", "https://app.example/verify")


def update(**fields: Any) -> VerificationSettingsWrite:
    return VerificationSettingsWrite(project="p", **fields)


def test_a_verifier_url_is_kept_as_the_projects_custom_verifier():
    choice = stored_choice(update(verifier_url="https://other.example/v"), skip_allowed=False)
    assert effective(ENGINE_YAML, choice) == VerificationChoice("custom", "https://other.example/v")


def test_an_empty_update_returns_the_project_to_engine_yamls_verification():
    assert stored_choice(update(), skip_allowed=False) is None
    assert effective(ENGINE_YAML, None) == ENGINE_YAML


def test_skipping_verification_is_refused_where_it_is_not_allowed():
    with pytest.raises(Forbidden):
        stored_choice(update(unsafe_skip_verification=True), skip_allowed=False)
    assert stored_choice(update(unsafe_skip_verification=True), skip_allowed=True) == {"mode": "unsafe_skip"}


def test_a_verifier_url_must_be_an_absolute_http_url():
    with pytest.raises(BadRequest):
        stored_choice(update(verifier_url="javascript:alert(1)"), skip_allowed=False)


def test_a_record_that_cannot_be_read_leaves_engine_yamls_verification():
    assert effective(ENGINE_YAML, {"mode": "custom"}) == ENGINE_YAML
    assert effective(ENGINE_YAML, {"mode": "something"}) == ENGINE_YAML


def test_the_view_shows_the_verifier_url_only_for_a_custom_verifier():
    assert view(ENGINE_YAML, False).model_dump() == {
        "unsafe_skip_verification": False,
        "unsafe_skip_verification_choice_allowed": False,
        "verifier_url": "https://app.example/verify",
    }
    skipped = view(VerificationChoice("unsafe_skip"), True).model_dump()
    assert skipped["unsafe_skip_verification"] is True and skipped["verifier_url"] is None
    assert view(VerificationChoice("builtin"), False).verifier_url is None


def test_the_flow_id_is_added_to_the_verifiers_query():
    assert with_flow_id("https://a/v?x=1", "f") == "https://a/v?x=1&flow_id=f"
    assert with_flow_id("https://a/v", "f") == "https://a/v?flow_id=f"


class MemoryStore:
    def __init__(self) -> None:
        self.choices: dict[str, dict[str, Any] | None] = {}
        self.tests: dict[tuple[str, str], str] = {}

    async def get(self, project: str) -> dict[str, Any] | None:
        return self.choices.get(project)

    async def put(self, project: str, choice: dict[str, Any] | None) -> None:
        self.choices[project] = choice

    async def add_test(self, flow_id: str, project: str, user_id: str, ttl_seconds: int) -> None:
        self.tests[(project, flow_id)] = user_id

    async def take_test(self, flow_id: str, project: str) -> str | None:
        return self.tests.pop((project, flow_id), None)


def sessions() -> SessionVerification:
    return SessionVerification(MemoryStore(), default=ENGINE_YAML, skip_allowed=False, test_ttl_seconds=60)


async def test_a_verifier_test_flow_passes_once_for_its_user():
    use = sessions()
    started = await use.start_test(VerifierTest(project="p", user_id="ann", verifier_url="https://app/v"))
    assert started.next_uri == f"https://app/v?flow_id={started.flow_id}"
    confirmed = await use.confirm_test(started.flow_id, "ann", "p")
    assert confirmed is not None and confirmed.auth_id == started.flow_id
    assert await use.confirm_test(started.flow_id, "ann", "p") is None


async def test_a_verifier_test_confirmed_for_another_user_is_a_user_mismatch():
    use = sessions()
    started = await use.start_test(VerifierTest(project="p", user_id="ann", verifier_url="https://app/v"))
    with pytest.raises(UserMismatch):
        await use.confirm_test(started.flow_id, "bob", "p")


async def test_another_projects_key_does_not_see_a_verifier_test_and_real_flows_are_not_tests():
    use = sessions()
    started = await use.start_test(VerifierTest(project="p", user_id="ann", verifier_url="https://app/v"))
    assert await use.confirm_test(started.flow_id, "ann", "q") is None
    assert await use.confirm_test(started.flow_id, "ann", None) is None
    assert await use.confirm_test("an-ordinary-flow", "ann", "p") is None
    assert await use.confirm_test(started.flow_id, "ann", "p") is not None
