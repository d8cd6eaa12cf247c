"""A project's session verification, changed at runtime (``/v1/admin/settings/session_verification``).

engine.yaml's ``auth.verification`` is every project's default. Through the API a project may
choose its own custom verifier (``verifier_url``), or skip verification where that is allowed
(development mode, or engine.yaml's mode ``unsafe_skip`` already); ``{}`` returns it to
engine.yaml's. The choice is kept in Redis, so every authorizer replica applies it to the next
callback (docs/arcade-compatibility.md §2.4). The test flow of a custom verifier
(``validate_custom_verifier``) lives here too: a flow that stores nothing, which the verifier
completes with ``confirm_user`` as it would a real one.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import urlencode, urlsplit

from pydantic import TypeAdapter, ValidationError

from services.authorizer.domain import VerificationMode
from shared.contracts.authorization import (
    ConfirmUserResult,
    VerificationSettings,
    VerificationSettingsWrite,
    VerifierTest,
    VerifierTestStarted,
)
from shared.contracts.common import InProject
from shared.errors import BadRequest, Forbidden, UserMismatch
from shared.runtime.config_base import HttpUrlText

_URL: TypeAdapter[str] = TypeAdapter(HttpUrlText)


@dataclass(frozen=True)
class VerificationChoice:
    """The verification that applies to a project's next callback."""

    mode: VerificationMode
    verifier_url: str | None = None


def effective(default: VerificationChoice, stored: dict[str, Any] | None) -> VerificationChoice:
    """The project's stored choice over engine.yaml's ``default`` (a record it cannot read: the default)."""
    if stored is None:
        return default
    if stored.get("mode") == "unsafe_skip":
        return VerificationChoice("unsafe_skip")
    url = stored.get("verifier_url")
    if stored.get("mode") == "custom" and isinstance(url, str) and url:
        return VerificationChoice("custom", url)
    return default


def view(choice: VerificationChoice, skip_allowed: bool) -> VerificationSettings:
    """Arcade's settings answer for ``choice``; ``verifier_url`` is null unless a custom verifier applies."""
    return VerificationSettings(
        unsafe_skip_verification=choice.mode == "unsafe_skip",
        unsafe_skip_verification_choice_allowed=skip_allowed,
        verifier_url=choice.verifier_url if choice.mode == "custom" else None,
    )


def verifier_url(url: str) -> str:
    """``url`` when it is an absolute http(s) URL.

    Raises:
        BadRequest: It is not.
    """
    try:
        return _URL.validate_python(url)
    except ValidationError as exc:
        raise BadRequest("verifier_url must be an absolute http(s) URL") from exc


def stored_choice(update: VerificationSettingsWrite, skip_allowed: bool) -> dict[str, Any] | None:
    """What to keep for the project after ``update`` (None: engine.yaml's again).

    Raises:
        Forbidden: Skipping verification where it is not allowed.
        BadRequest: A verifier URL that is not an absolute http(s) URL.
    """
    if update.unsafe_skip_verification:
        if not skip_allowed:
            raise Forbidden(
                "skipping session verification is allowed only in development mode or when "
                "engine.yaml's auth.verification.mode is unsafe_skip"
            )
        return {"mode": "unsafe_skip"}
    if update.verifier_url:
        return {"mode": "custom", "verifier_url": verifier_url(update.verifier_url)}
    return None


def with_flow_id(url: str, flow_id: str) -> str:
    """``url`` with ``flow_id`` added to its query, as the verifier redirect carries it."""
    separator = "&" if urlsplit(url).query else "?"
    return f"{url}{separator}{urlencode({'flow_id': flow_id})}"


class ChoiceStore(Protocol):
    """Where the projects' choices and the verifier test flows are kept (settings_store.py)."""

    async def get(self, project: str) -> dict[str, Any] | None: ...

    async def put(self, project: str, choice: dict[str, Any] | None) -> None: ...

    async def add_test(self, flow_id: str, project: str, user_id: str, ttl_seconds: int) -> None: ...

    async def take_test(self, flow_id: str, project: str) -> str | None: ...


@dataclass
class SessionVerification:
    """The settings use cases, and the choice each callback applies."""

    store: ChoiceStore
    default: VerificationChoice
    skip_allowed: bool
    test_ttl_seconds: int

    async def of(self, project: str) -> VerificationChoice:
        """The verification the project's next callback applies."""
        return effective(self.default, await self.store.get(project))

    async def get(self, request: InProject) -> VerificationSettings:
        return view(await self.of(request.project), self.skip_allowed)

    async def put(self, update: VerificationSettingsWrite) -> VerificationSettings:
        choice = stored_choice(update, self.skip_allowed)
        await self.store.put(update.project, choice)
        return view(effective(self.default, choice), self.skip_allowed)

    async def start_test(self, request: VerifierTest) -> VerifierTestStarted:
        """A test flow for ``request.user_id``: the verifier at ``verifier_url`` confirms it."""
        target = verifier_url(request.verifier_url)
        flow_id = f"test_{secrets.token_urlsafe(24)}"
        await self.store.add_test(flow_id, request.project, request.user_id, self.test_ttl_seconds)
        return VerifierTestStarted(flow_id=flow_id, next_uri=with_flow_id(target, flow_id))

    async def confirm_test(self, flow_id: str, user_id: str, project: str | None) -> ConfirmUserResult | None:
        """The answer to ``confirm_user`` for a test flow (used up), None for any other flow id.

        Raises:
            UserMismatch: The verifier confirmed another user than the test was started for.
        """
        if project is None or not flow_id.startswith("test_"):  # the browser pages confirm no test
            return None
        tested_user = await self.store.take_test(flow_id, project)
        if tested_user is None:
            return None
        if tested_user != user_id:
            raise UserMismatch("the user id does not match the user the verifier test was started for")
        return ConfirmUserResult(auth_id=flow_id)
