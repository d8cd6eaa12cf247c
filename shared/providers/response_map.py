"""``response_map`` evaluation: JSONPath plus Arcade's ``join()`` and ``jwt_decode()``.

Grammar (whitespace allowed between tokens)::

    expression := call | PATH
    call       := ("join" | "jwt_decode") "(" argument "," argument ")"
    argument   := call | QUOTED | PATH          # QUOTED uses ' or ", backslash escapes

``join(value, delimiter)`` joins a list (a string passes through);
``jwt_decode(token, claim_path)`` decodes a JWT *without* verifying it (it is the
provider's own token response, received over TLS) and selects ``claim_path`` in
its claims.  Paths are evaluated with python-jsonpath.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import jsonpath
import jwt

from shared.errors import ProviderError

_FUNCTIONS = ("join", "jwt_decode")


@dataclass(frozen=True)
class _Path:
    query: jsonpath.JSONPath | jsonpath.CompoundJSONPath


@dataclass(frozen=True)
class _Literal:
    text: str


@dataclass(frozen=True)
class _Call:
    name: str
    args: tuple[_Expr, ...]


_Expr = _Path | _Literal | _Call


class _Reader:
    """A cursor over the expression text; raises ValueError on bad syntax."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0

    def skip_space(self) -> None:
        while self.pos < len(self.text) and self.text[self.pos].isspace():
            self.pos += 1

    def peek(self) -> str:
        self.skip_space()
        return self.text[self.pos] if self.pos < len(self.text) else ""

    def expect(self, char: str) -> None:
        if self.peek() != char:
            raise ValueError(f"expected {char!r} at position {self.pos} in {self.text!r}")
        self.pos += 1

    def function_name(self) -> str | None:
        self.skip_space()
        for name in _FUNCTIONS:
            end = self.pos + len(name)
            if self.text.startswith(name, self.pos) and self.text[end:].lstrip().startswith("("):
                self.pos = end
                return name
        return None

    def quoted(self) -> str:
        quote = self.peek()
        self.pos += 1
        out: list[str] = []
        while self.pos < len(self.text):
            char = self.text[self.pos]
            self.pos += 1
            if char == "\\" and self.pos < len(self.text):
                out.append(self.text[self.pos])
                self.pos += 1
            elif char == quote:
                return "".join(out)
            else:
                out.append(char)
        raise ValueError(f"unterminated string in {self.text!r}")

    def bare_path(self) -> str:
        # An unquoted path inside a call ends at a top-level ',' or ')'.
        start, depth, quote = self.pos, 0, ""
        while self.pos < len(self.text):
            char = self.text[self.pos]
            if quote:
                quote = "" if char == quote else quote
            elif char in "'\"":
                quote = char
            elif char in "[(":
                depth += 1
            elif char in "])" and depth:
                depth -= 1
            elif char in ",)":
                break
            self.pos += 1
        return self.text[start : self.pos].strip()


def _path(text: str) -> _Path:
    try:
        return _Path(jsonpath.compile(text))
    except jsonpath.JSONPathError as exc:
        raise ValueError(f"invalid JSONPath {text!r}: {exc}") from None


def _argument(reader: _Reader, *, as_path: bool) -> _Expr:
    name = reader.function_name()
    if name is not None:
        return _call(reader, name)
    text = reader.quoted() if reader.peek() in ("'", '"') else reader.bare_path()
    if not text and as_path:
        raise ValueError(f"empty argument in {reader.text!r}")
    return _path(text) if as_path else _Literal(text)


def _call(reader: _Reader, name: str) -> _Call:
    reader.expect("(")
    first = _argument(reader, as_path=True)
    reader.expect(",")
    # join's second argument is a delimiter; jwt_decode's is a claim path.
    second = _argument(reader, as_path=name == "jwt_decode")
    reader.expect(")")
    return _Call(name, (first, second))


@lru_cache(maxsize=1024)
def compile_expression(expression: str) -> _Expr:
    """Parse a ``response_map`` value.

    Args:
        expression: A JSONPath (``$.data.access_token``) or a helper call
            (``join(jwt_decode('$.id_token', '$.scp'), ' ')``).

    Returns:
        An opaque compiled expression for :func:`evaluate`.

    Raises:
        ValueError: The expression is not valid; the message says why.
    """
    reader = _Reader(expression)
    name = reader.function_name()
    if name is None:
        return _path(expression.strip())
    compiled = _call(reader, name)
    if reader.peek():
        raise ValueError(f"unexpected text after position {reader.pos} in {expression!r}")
    return compiled


def _select(query: jsonpath.JSONPath | jsonpath.CompoundJSONPath, document: Any) -> Any:
    found = query.findall(document)
    if not found:
        return None
    return found[0] if len(found) == 1 else list(found)


def _join(value: Any, delimiter: str) -> Any:
    if isinstance(value, list):
        return delimiter.join(str(item) for item in value)
    return value


def _jwt_claims(token: Any) -> dict[str, Any]:
    if not isinstance(token, str):
        raise ProviderError("jwt_decode: the selected value is not a JWT string")
    try:
        claims: dict[str, Any] = jwt.decode(token, options={"verify_signature": False})
    except jwt.PyJWTError:
        raise ProviderError("jwt_decode: the selected value is not a decodable JWT") from None
    return claims


def _evaluate(expr: _Expr, document: Any) -> Any:
    if isinstance(expr, _Path):
        return _select(expr.query, document)
    if isinstance(expr, _Literal):
        return expr.text
    first = _evaluate(expr.args[0], document)
    if expr.name == "join":
        return _join(first, str(_evaluate(expr.args[1], document)))
    if first is None:
        return None
    claim = expr.args[1]
    assert isinstance(claim, _Path)  # guaranteed by _call
    return _select(claim.query, _jwt_claims(first))


def evaluate(expression: str, document: Any) -> Any:
    """Evaluate one ``response_map`` expression against a decoded response.

    Args:
        expression: See :func:`compile_expression`.
        document: The decoded JSON (or form) response.

    Returns:
        The selected value; ``None`` when the path matches nothing, a list when it
        matches several nodes.

    Raises:
        ProviderError: ``jwt_decode`` was pointed at something that is not a JWT.
    """
    return _evaluate(compile_expression(expression), document)


def apply_response_map(mapping: dict[str, str], document: Any) -> dict[str, Any]:
    """Apply every entry of a ``response_map``.

    Args:
        mapping: Output key to expression, as configured.
        document: The decoded response.

    Returns:
        Output key to selected value (keys whose path matched nothing map to ``None``).
    """
    return {key: evaluate(expression, document) for key, expression in mapping.items()}
