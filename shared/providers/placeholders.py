"""Arcade's ``{{name}}`` placeholders: which exist and in which request each one has a value.

Arcade's provider pages use nine: the client's ``client_id``/``client_secret``, our
``redirect_uri``, the ``scopes`` asked for now and the ``existing_scopes`` already granted,
the flow's ``state`` (authorize) and ``code`` (token), and the connection's
``refresh_token``/``access_token``. ``state`` and ``code`` are also added by the engine
itself, so writing them (TickTick, Zoho, Airtable...) or not gives the same request.

A placeholder written where it has no value is refused at load rather than sent empty:
``{{code}}`` in a refresh request is a mistake, and ``{{client_secret}}`` in the
authorize request would put the secret in the user's browser.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Final

PLACEHOLDER_RE: Final = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")

_CLIENT = frozenset(("client_id", "client_secret"))

#: Request block -> the placeholders that have a value when it is built.
AVAILABLE: Final[Mapping[str, frozenset[str]]] = {
    "authorize_request": frozenset(("client_id", "redirect_uri", "scopes", "existing_scopes", "state")),
    "token_request": _CLIENT | {"redirect_uri", "code"},
    "refresh_token_request": _CLIENT | {"refresh_token", "access_token"},
    "user_info_request": _CLIENT | {"access_token"},
    "token_introspection_request": _CLIENT | {"access_token", "refresh_token"},
    "token_revocation_request": _CLIENT | {"access_token", "refresh_token"},
}

#: Every placeholder Arcade documents.
PLACEHOLDERS: Final = frozenset().union(*AVAILABLE.values())


def names_in(template: str) -> list[str]:
    """The placeholder names written in ``template``, in order."""
    return PLACEHOLDER_RE.findall(template)


def check_known(values: Mapping[str, str]) -> None:
    """Refuse a placeholder Arcade does not define (a typo such as ``{{client-id}}``).

    Raises:
        ValueError: Naming the param and the known placeholders.
    """
    for name, template in values.items():
        for found in names_in(template):
            if found not in PLACEHOLDERS:
                known = ", ".join(sorted(PLACEHOLDERS))
                raise ValueError(f"{name}: unknown placeholder {{{{{found}}}}} (known: {known})")


def check_available(request: str, values: Mapping[str, str]) -> None:
    """Refuse a placeholder that has no value in ``request`` (e.g. ``{{code}}`` in a refresh).

    Raises:
        ValueError: Naming the request, the param and what is available there.
    """
    available = AVAILABLE[request]
    for name, template in values.items():
        for found in names_in(template):
            if found in PLACEHOLDERS and found not in available:
                where = ", ".join(sorted(available))
                raise ValueError(f"{request}.{name}: {{{{{found}}}}} has no value here (available: {where})")


def render(template: str, values: Mapping[str, str]) -> str:
    """Replace every placeholder by its value ("" when it has none)."""
    return PLACEHOLDER_RE.sub(lambda m: values.get(m.group(1), ""), template)
