"""The one rule for "does this token cover this requirement" (``shared.tokens.model.covers``)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from shared.tokens.model import StoredToken, covers

NOW = datetime(2030, 1, 1, tzinfo=UTC)


def token(scopes: list[str], **changes: Any) -> StoredToken:
    fields: dict[str, Any] = {"issued_at": NOW - timedelta(hours=1), "expires_at": NOW + timedelta(hours=1)}
    fields.update(changes)
    return StoredToken(access_token="at", scopes=scopes, **fields)


class TestScopes:
    def test_an_empty_requirement_is_covered_by_any_usable_token(self):
        assert covers(token([]), [], now=NOW)
        assert covers(token(["a"]), [], now=NOW)

    def test_a_requirement_whose_scopes_were_all_granted_is_covered(self):
        assert covers(token(["a", "b", "c"]), ["c", "a"], now=NOW)

    def test_a_requirement_for_a_scope_not_granted_is_not_covered(self):
        assert not covers(token(["a"]), ["a", "b"], now=NOW)

    def test_blank_required_scopes_are_ignored(self):
        assert covers(token(["a"]), ["a", ""], now=NOW)

    def test_scopes_are_compared_exactly(self):
        assert not covers(token(["Repo"]), ["repo"], now=NOW)


class TestUsability:
    def test_no_token_covers_nothing(self):
        assert not covers(None, [], now=NOW)

    def test_a_connection_waiting_for_reauthorization_covers_nothing(self):
        assert not covers(token(["a"], status="reauthorization_required"), ["a"], now=NOW)

    def test_an_expired_token_without_a_refresh_token_covers_nothing(self):
        assert not covers(token(["a"], expires_at=NOW - timedelta(seconds=1)), ["a"], now=NOW)

    def test_an_expired_token_with_a_refresh_token_still_covers(self):
        stale = token(["a"], expires_at=NOW - timedelta(seconds=1), refresh_token="rt")
        assert covers(stale, ["a"], now=NOW)

    def test_a_token_that_never_expires_covers(self):
        assert covers(token(["a"], expires_at=None), ["a"], now=NOW)
