"""Pure gateway decisions: API keys and Arcade's offset pages."""

from __future__ import annotations

import hashlib
import hmac
from typing import Any

from shared.errors import BadRequest, Unauthorized

MAX_LIMIT = 100
DEFAULT_LIMIT = 25
# Far past any list we hold, and far inside what Redis accepts as a range index.
MAX_OFFSET = 1_000_000_000


class ApiKeys:
    """The keys the engine accepts, held only as SHA-256 digests and compared in constant time."""

    def __init__(self, keys: list[str]) -> None:
        self._digests = [hashlib.sha256(k.encode()).digest() for k in keys if k]

    def check(self, header: str | None) -> None:
        """Accept ``Authorization: Bearer <key>`` and ``Authorization: <key>`` alike.

        Raises:
            Unauthorized: Missing or unknown key.
        """
        if not header:
            raise Unauthorized("missing API key: send it in the Authorization header")
        scheme, _, rest = header.strip().partition(" ")
        key = rest.strip() if scheme.lower() == "bearer" and rest else header.strip()
        digest = hashlib.sha256(key.encode()).digest()
        # Compare against every key so the time taken does not say which one was close.
        matched = False
        for known in self._digests:
            matched |= hmac.compare_digest(digest, known)
        if not matched:
            raise Unauthorized("invalid API key")


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
