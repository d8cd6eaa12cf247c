"""Arcade's ``filter`` on tool lists: a JSON object matched against each tool's ``metadata``.

Pure functions over definitions; docs/arcade-compatibility.md §3.3 states the rules.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final, Literal

from arcade_core.metadata import Operation, ServiceDomain

from shared.errors import BadRequest

Operator = Literal["any_of", "all_of", "none_of"]
OPERATORS: Final = ("any_of", "all_of", "none_of")
# Where each array field sits in ``metadata``.
ARRAY_FIELDS: Final = {"service_domains": "classification", "operations": "behavior"}
FLAGS: Final = ("read_only", "destructive", "idempotent", "open_world")
FIELDS: Final = (*ARRAY_FIELDS, *FLAGS, "extras")
OPERATIONS: Final = frozenset(o.value for o in Operation)
SERVICE_DOMAINS: Final = frozenset(d.value for d in ServiceDomain)


@dataclass(frozen=True)
class ArrayTest:
    """One operator over one array field; values lower-cased (array matching ignores case)."""

    field: str
    operator: Operator
    values: frozenset[str]

    def holds(self, present: frozenset[str]) -> bool:
        if self.operator == "any_of":
            return bool(present & self.values)
        if self.operator == "all_of":
            return self.values <= present
        return not present & self.values


@dataclass(frozen=True)
class ToolFilter:
    """A parsed filter; every part must hold for a tool to match."""

    arrays: tuple[ArrayTest, ...] = ()
    flags: tuple[tuple[str, bool], ...] = ()
    extras: Mapping[str, Any] = field(default_factory=dict)

    def matches(self, definition: Mapping[str, Any]) -> bool:
        """True when the tool's metadata satisfies every test (no metadata satisfies only ``none_of``)."""
        metadata = definition.get("metadata") or {}
        behavior = metadata.get("behavior") or {}
        extras = metadata.get("extras") or {}
        if any(not test.holds(_array(metadata, test.field)) for test in self.arrays):
            return False
        if any(behavior.get(name) is not wanted for name, wanted in self.flags):
            return False
        return all(key in extras and extras[key] == value for key, value in self.extras.items())


def _array(metadata: Mapping[str, Any], name: str) -> frozenset[str]:
    values = (metadata.get(ARRAY_FIELDS[name]) or {}).get(name) or []
    return frozenset(str(v).lower() for v in values)


def domains_of(definitions: Iterable[Mapping[str, Any]]) -> frozenset[str]:
    """The service domains the given tools declare (a newer toolkit may know domains we do not)."""
    return frozenset(
        d for definition in definitions for d in _array(definition.get("metadata") or {}, "service_domains")
    )


def parse_filter(raw: str | None, *, known_domains: frozenset[str] = frozenset()) -> ToolFilter | None:
    """Parse the ``filter`` query value; None when absent or blank.

    Args:
        raw: The JSON text the client sent.
        known_domains: Service domains the catalog's tools declare, accepted besides Arcade's own.

    Raises:
        BadRequest: Not a JSON object, an unknown field, operator or value, or a value of the wrong type.
    """
    if raw is None or not raw.strip():
        return None
    try:
        document = json.loads(raw)
    except (ValueError, RecursionError):
        raise BadRequest("filter is not JSON") from None
    if not isinstance(document, dict):
        raise BadRequest("filter must be a JSON object")
    unknown = sorted(set(document) - set(FIELDS))
    if unknown:
        raise BadRequest(f"filter: unknown field {unknown[0]!r}: use one of {', '.join(FIELDS)}")
    allowed = {"operations": OPERATIONS, "service_domains": SERVICE_DOMAINS | known_domains}
    arrays = tuple(
        test
        for name in ARRAY_FIELDS
        if name in document
        for test in _array_tests(name, document[name], allowed[name])
    )
    return ToolFilter(arrays=arrays, flags=_flags(document), extras=_extras(document.get("extras")))


def _array_tests(name: str, value: Any, allowed: frozenset[str]) -> list[ArrayTest]:
    """A list is shorthand for ``any_of``; an object holds one or more operators."""
    spec = {"any_of": value} if isinstance(value, list) else value
    if not isinstance(spec, dict) or not spec:
        raise BadRequest(f"filter: {name} must be a list or an object of {', '.join(OPERATORS)}")
    tests = []
    for operator, values in spec.items():
        if operator not in OPERATORS:
            raise BadRequest(
                f"filter: {name}: unknown operator {operator!r}: use one of {', '.join(OPERATORS)}"
            )
        tests.append(ArrayTest(name, operator, _values(name, values, allowed)))
    return tests


def _values(name: str, values: Any, allowed: frozenset[str]) -> frozenset[str]:
    if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
        raise BadRequest(f"filter: {name} takes a list of strings")
    lowered = frozenset(v.lower() for v in values)
    unknown = sorted(lowered - allowed)
    if unknown:
        raise BadRequest(f"filter: {name}: unknown value {unknown[0]!r}")
    return lowered


def _flags(document: Mapping[str, Any]) -> tuple[tuple[str, bool], ...]:
    for name in FLAGS:
        if name in document and not isinstance(document[name], bool):
            raise BadRequest(f"filter: {name} must be true or false")
    return tuple((name, document[name]) for name in FLAGS if name in document)


def _extras(value: Any) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise BadRequest("filter: extras must be a JSON object")
    return dict(value)
