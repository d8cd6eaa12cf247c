"""Arcade's project-scoped paths, ``/v1/orgs/{org}/projects/{project}/<rest>``, as ``/v1/<rest>``.

arcade-mcp-server (``arcade_core.network.org_transport``) rewrites every ``/v1/...`` call to
this form once a developer has run ``arcade login`` and the key does not start with ``arc_``.
This ASGI layer, in front of everything else, turns the path back into ``/v1/<rest>`` and
leaves the project in the scope; the key check then refuses a key of another project
(403 ``project_forbidden``, docs/arcade-compatibility.md §1.1). The org is accepted as given:
valetkey has no orgs.
"""

from __future__ import annotations

import re

from starlette.types import ASGIApp, Receive, Scope, Send

from services.gateway.routes.deps import PATH_PROJECT_KEY

_SCOPED = re.compile(r"^/v1/orgs/[^/]+/projects/(?P<project>[^/]+)(?P<rest>/.*)$")
_SCOPED_RAW = re.compile(rb"^/v1/orgs/[^/]+/projects/[^/]+(?P<rest>/.*)$")


class ProjectPaths:
    """ASGI app: rewrites a project-scoped path and hands every request to ``app``."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"].startswith("/v1/orgs/"):
            rewrite(scope)
        await self.app(scope, receive, send)


def rewrite(scope: Scope) -> None:
    """Make a project-scoped request's scope that of ``/v1/<rest>``, the project under ``PATH_PROJECT_KEY``.

    In place, as Starlette's router changes a scope: the layers outside read the route from it.
    """
    match = _SCOPED.match(scope["path"])
    if match is None:
        return
    scope["path"] = "/v1" + match["rest"]
    scope[PATH_PROJECT_KEY] = match["project"]
    raw = _SCOPED_RAW.match(scope.get("raw_path") or b"")
    if raw is not None:
        scope["raw_path"] = b"/v1" + raw["rest"]
