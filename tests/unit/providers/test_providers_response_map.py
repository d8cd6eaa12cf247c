"""response_map expressions: JSONPath, join() and jwt_decode()."""

from __future__ import annotations

import jwt
import pytest

from shared.errors import ProviderError
from shared.providers.response_map import apply_response_map, compile_expression, evaluate

ID_TOKEN = jwt.encode(
    {"sub": "u1", "scp": ["read", "write"], "org": {"id": "o1"}}, "k" * 32, algorithm="HS256"
)


def test_a_plain_jsonpath_selects_one_value() -> None:
    assert evaluate("$.data.access_token", {"data": {"access_token": "at"}}) == "at"


def test_a_path_that_matches_nothing_is_none() -> None:
    assert evaluate("$.missing", {"a": 1}) is None


def test_join_joins_an_array_with_either_quote_style() -> None:
    document = {"scope": ["a", "b"]}
    assert evaluate("join('$.scope', ' ')", document) == "a b"
    assert evaluate('join( "$.scope" , "," )', document) == "a,b"


def test_join_passes_a_string_through() -> None:
    assert evaluate("join('$.scope', ',')", {"scope": "a b"}) == "a b"


def test_jwt_decode_reads_a_claim_without_verifying() -> None:
    assert evaluate("jwt_decode('$.id_token', '$.sub')", {"id_token": ID_TOKEN}) == "u1"
    assert evaluate("jwt_decode('$.id_token', '$.org.id')", {"id_token": ID_TOKEN}) == "o1"


def test_response_map_helpers_nest_inside_each_other() -> None:
    assert evaluate("join(jwt_decode('$.id_token', '$.scp'), ' ')", {"id_token": ID_TOKEN}) == "read write"


def test_unquoted_paths_inside_helpers_are_tolerated() -> None:
    assert evaluate("join($['scope'], ' ')", {"scope": ["a", "b"]}) == "a b"


def test_jwt_decode_on_garbage_is_a_provider_error_without_the_value() -> None:
    with pytest.raises(ProviderError) as caught:
        evaluate("jwt_decode('$.t', '$.sub')", {"t": "not-a-jwt-secret"})
    assert "not-a-jwt-secret" not in str(caught.value)


@pytest.mark.parametrize(
    "expression",
    ["join('$.scope'", "join('$.scope', ' ') trailing", "jwt_decode('$.t')", "$.[[", "join('$.a, ' ')"],
)
def test_malformed_expressions_are_rejected(expression: str) -> None:
    with pytest.raises(ValueError):
        compile_expression(expression)


def test_apply_response_map_maps_every_key() -> None:
    mapping = {"access_token": "$.data.token", "scope": "join('$.data.scopes', ' ')"}
    document = {"data": {"token": "at", "scopes": ["x", "y"]}}
    assert apply_response_map(mapping, document) == {"access_token": "at", "scope": "x y"}
