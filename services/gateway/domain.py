"""Pure gateway decisions: API keys, who they speak for, and Arcade's offset pages."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from shared.errors import AdminKeyRequired, BadRequest, ConfigError, ProjectForbidden, Unauthorized
from shared.runtime.config import Role

MAX_LIMIT = 100
DEFAULT_LIMIT = 25
# Far past any list we hold, and far inside what Redis accepts as a range index.
MAX_OFFSET = 1_000_000_000


@dataclass(frozen=True, slots=True)
class Principal:
    """Who a request speaks for: a project, and the key's role in it."""

    project: str
    role: Role

    def require_admin(self) -> None:
        """Raises: AdminKeyRequired: an ``agent`` key."""
        if self.role != "admin":
            raise AdminKeyRequired("this route needs an admin key; this key's role is agent")

    def require_project(self, project: str | None) -> None:
        """A project named in the path (``/v1/orgs/{org}/projects/{project}/...``) must be the key's own.

        Raises:
            ProjectForbidden: Another project.
        """
        if project is not None and project != self.project:
            raise ProjectForbidden("this API key does not belong to the project in the path")


class ApiKeys:
    """The keys the engine accepts, held only as SHA-256 digests and compared in constant time."""

    def __init__(self, keys: Iterable[tuple[str, Principal]]) -> None:
        self._entries: list[tuple[bytes, Principal]] = []
        seen: dict[bytes, Principal] = {}
        for key, principal in keys:
            if not key:
                continue
            digest = hashlib.sha256(key.encode()).digest()
            if seen.setdefault(digest, principal) != principal:
                raise ConfigError("one key is listed for two projects or roles", key="api.keys")
            self._entries.append((digest, principal))

    def check(self, header: str | None) -> Principal:
        """Accept ``Authorization: Bearer <key>`` and ``Authorization: <key>`` alike.

        Returns:
            The project and role of the key.

        Raises:
            Unauthorized: Missing or unknown key.
        """
        if not header:
            raise Unauthorized("missing API key: send it in the Authorization header")
        scheme, _, rest = header.strip().partition(" ")
        key = rest.strip() if scheme.lower() == "bearer" and rest else header.strip()
        digest = hashlib.sha256(key.encode()).digest()
        # Compare against every key so the time taken does not say which one was close.
        found: Principal | None = None
        for known, principal in self._entries:
            if hmac.compare_digest(digest, known):
                found = principal
        if found is None:
            raise Unauthorized("invalid API key")
        return found

    def by_digest(self, prefix: str) -> Principal | None:
        """The principal of the key whose SHA-256 hex starts with ``prefix`` (a console session's key)."""
        found: Principal | None = None
        for known, principal in self._entries:
            if hmac.compare_digest(known.hex()[: len(prefix)].encode(), prefix.encode()):
                found = principal
        return found


def clamp_page(offset: int | None, limit: int | None) -> tuple[int, int]:
    """Arcade's paging defaults: offset 0, limit 25, at most 100 (larger limits are clamped).

    An offset outside ``0..MAX_OFFSET`` or a negative limit is a 400 that names it.
    """
    if offset is not None and not 0 <= offset <= MAX_OFFSET:
        raise BadRequest(f"offset must be between 0 and {MAX_OFFSET}")
    if limit is not None and limit < 0:
        raise BadRequest("limit must not be negative")
    lim = DEFAULT_LIMIT if not limit else min(limit, MAX_LIMIT)
    return offset or 0, lim


def offset_page(items: list[Any], total: int, offset: int, limit: int) -> dict[str, Any]:
    """The page envelope the clients paginate with (docs/arcade-compatibility.md §1.3)."""
    return {
        "items": items,
        "limit": limit,
        "offset": offset,
        "page_count": len(items),
        "total_count": total,
    }
