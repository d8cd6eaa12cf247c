"""A stored token reads back as the standard library's JSON of its record would give it,
whatever its user info holds, and a record that does not decrypt still reads as no token."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from shared.runtime.crypto import Cipher, RootKey
from shared.tokens.model import RefreshPolicy, StoredToken, connection_id_of
from shared.tokens.records import token_aad
from shared.tokens.store import TokenStore


class _NoRedis:
    """Decoding calls no Redis: the store only registers its scripts."""

    def register_script(self, _script: str) -> None:
        return None


CIPHER = Cipher([RootKey(id="k1", value="a-root-key-for-these-tests-only-0123456789", default=True)])
STORE = TokenStore(_NoRedis(), CIPHER, RefreshPolicy())  # type: ignore[arg-type]
ISSUED = datetime(2026, 12, 3, 14, 0, 0, 123456, tzinfo=UTC)


def _record(token: dict[str, Any], *, project: str = "default") -> str:
    """A record as the store writes it (``encrypt_json``), for alice's github connection."""
    aad = token_aad(connection_id_of("alice", "github", project), "alice", "github", project)
    return CIPHER.encrypt_json(token, aad=aad)


def _as_before(token: dict[str, Any]) -> StoredToken:
    return StoredToken.model_validate(json.loads(json.dumps(token)))


def test_a_token_reads_back_as_the_standard_librarys_json_gives_it():
    base = {"access_token": "gho_at", "issued_at": ISSUED.isoformat(), "scopes": ["repo", "read:user"]}
    tokens = [
        base,
        base
        | {"refresh_token": "rt", "expires_at": (ISSUED + timedelta(hours=1)).isoformat(), "generation": 7},
        base | {"user_info": {"login": "alice", "id": 18446744073709551616123, "score": 1.5e-7, "ok": True}},
        base
        | {"user_info": {"name": "Zoë 😀", "nan": float("nan"), "inf": float("inf")}, "extra": {"k": [1]}},
        base
        | {"user_info": {"lone": "\ud800 surrogate"}, "status": "reauthorization_required", "unknown": 1},
    ]
    for token in tokens:
        read = STORE.decode("alice", "github", _record(token))
        assert repr(read) == repr(_as_before(token))


def test_a_token_of_another_project_reads_back_under_its_own_binding():
    token = {"access_token": "at-p", "issued_at": ISSUED.isoformat()}
    read = STORE.decode("alice", "github", _record(token, project="acme"), project="acme")
    assert read is not None and read.access_token == "at-p"
    assert STORE.decode("alice", "github", _record(token, project="acme")) is None


def test_a_record_that_does_not_decrypt_is_no_token():
    assert STORE.decode("alice", "github", "vk1.k1.not-a-sealed-record") is None
    assert STORE.decode("alice", "github", None) is None
