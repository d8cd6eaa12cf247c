"""The embedded servers' credentials: one NATS user per service and Valkey's password.

Generated once (random), kept in ``credentials.json`` under the home folder (mode 600) so a
restarted engine and ``valetkey run <service>`` find the same ones. The servers read them from
configuration files written beside the state (mode 600 too): the NATS ``authorization`` block
rendered from ``shared.bus.permissions`` and Valkey's ``requirepass``. Each service is given
its own NATS user and no other's (:meth:`EngineCredentials.service_env`).
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from pathlib import Path

from shared.bus import subjects
from shared.bus.permissions import render_authorization, service_users
from tools.launcher.embedded import valkey_auth, write_private

NATS = "nats"
REDIS = "redis"


def _password() -> str:
    return secrets.token_urlsafe(32)


@dataclass(frozen=True)
class EngineCredentials:
    nats: dict[str, str]  # service -> its NATS user's password (the user is named after the service)
    redis: str

    def nats_config(self) -> str:
        return render_authorization(service_users(self.nats))

    def valkey_config(self) -> str:
        return valkey_auth(self.redis)

    def service_env(self, service: str | None, secured: set[str] | frozenset[str]) -> dict[str, str]:
        """The variables that give ``service`` its credentials for the servers in ``secured``; without
        a service (a tool that reaches Redis only), Redis's password alone."""
        env: dict[str, str] = {}
        if NATS in secured and service is not None:
            env |= {"VALETKEY_NATS_USER": service, "VALETKEY_NATS_PASSWORD": self.nats[service]}
        if REDIS in secured:
            env["VALETKEY_REDIS_PASSWORD"] = self.redis
        return env


def credentials_file(home: Path) -> Path:
    return home / "credentials.json"


def ensure_credentials(home: Path) -> EngineCredentials:
    """The stored credentials, completed with any missing (a service added since) and kept (mode 600)."""
    path = credentials_file(home)
    stored = json.loads(path.read_text()) if path.exists() else {}
    nats = {s: stored.get(NATS, {}).get(s) or _password() for s in subjects.SERVICES}
    creds = EngineCredentials(nats=nats, redis=stored.get(REDIS) or _password())
    wanted = {NATS: creds.nats, REDIS: creds.redis}
    if wanted != stored:
        write_private(path, json.dumps(wanted, indent=2))
    return creds
