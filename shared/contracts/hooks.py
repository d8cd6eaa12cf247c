"""Contextual Access (docs/contextual-access.md): gateway <-> executor, plugins and hooks of a project."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from shared.contracts.common import InProject, PageQuery


class PluginRef(InProject):
    id: str = Field(min_length=1, max_length=128)


class PluginWrite(InProject):
    """A create (``id`` None) or a patch of the project's plugin ``id``."""

    id: str | None = None
    body: dict[str, Any]


class HookRef(InProject):
    id: str = Field(min_length=1, max_length=128)


class HookWrite(InProject):
    """A create (``id`` None) or a patch of the project's hook ``id``."""

    id: str | None = None
    body: dict[str, Any]


class HookBulk(InProject):
    """``PATCH /v1/hooks/bulk``: each item a hook to create (no ``id``) or to change (its ``id``); with
    ``by_point`` (Arcade's ``configs``), an item changes the plugin's hook at its ``hook_point`` if there
    is one."""

    items: list[dict[str, Any]] = Field(max_length=100)
    by_point: bool = False


class HookQuery(PageQuery):
    hook_point: str | None = None
    plugin_id: str | None = None
    status: str | None = None


class HooksChanged(InProject):
    """Broadcast: the project's plugins or hooks changed; every executor replica drops its copy."""
