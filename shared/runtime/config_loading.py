"""Loading ``engine.yaml``: read the file, substitute, validate into :class:`EngineConfig`.

Loading reads the YAML, substitutes ``${env:VAR}`` and ``${file:/path}`` (values
from the process environment, then a ``.env`` beside the config or in the working
directory), and validates the result with the models of ``config.py``. Any problem raises
:class:`ConfigError` naming the file, the key and what is wrong, so a bad file stops the
engine at start. Unset variables inside a *disabled* provider are tolerated, as Arcade's
shipped template declares disabled providers whose credentials are not set, and so are those
under the secrets a service never reads (:data:`UNUSED_SECRETS`).
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml
from dotenv import dotenv_values
from pydantic import ValidationError

from shared.errors import ConfigError
from shared.runtime.config import EngineConfig

_REF = re.compile(r"\$\{(env|file):([^}]+)\}")


def _environment(config_path: Path, env: Mapping[str, str]) -> dict[str, str]:
    merged: dict[str, str] = {}
    for candidate in (Path.cwd() / ".env", config_path.parent / ".env"):
        if candidate.is_file():
            merged.update({k: v for k, v in dotenv_values(candidate).items() if v is not None})
    merged.update(env)
    return merged


#: Secrets a service never reads, by key path: an unset ``${env:...}`` under one of them reads as
#: empty for that service, so a deployment may give each secret only to the services that use
#: it (deploy/README.md). The gateway holds no key at all but the bus key; only the authorizer
#: signs users in; only the webhooks service holds the webhook keys, and it holds no root key.
_OIDC_SECRET = "auth.verification.oidc.client_secret"
UNUSED_SECRETS: dict[str, tuple[str, ...]] = {
    "gateway": ("security.root_keys", "security.webhook_keys", "auth.providers", _OIDC_SECRET),
    "authorizer": ("security.webhook_keys",),
    "token_refresher": ("security.webhook_keys", _OIDC_SECRET),
    "executor": ("security.webhook_keys", "auth.providers", _OIDC_SECRET),
    "webhooks": ("security.root_keys", "auth.providers", _OIDC_SECRET),
}


class _Substituter:
    def __init__(self, file: str, env: Mapping[str, str], unused: tuple[str, ...] = ()) -> None:
        self.file = file
        self.env = env
        self.unused = unused

    def _unused(self, path: str) -> bool:
        return any(path == u or path.startswith((f"{u}.", f"{u}[")) for u in self.unused)

    def walk(self, value: Any, path: str, lenient: bool) -> Any:
        lenient = lenient or self._unused(path)
        if isinstance(value, dict):
            if path.startswith("auth.providers[") and value.get("enabled") is False:
                lenient = True
            return {k: self.walk(v, f"{path}.{k}" if path else str(k), lenient) for k, v in value.items()}
        if isinstance(value, list):
            return [self.walk(v, f"{path}[{i}]", lenient) for i, v in enumerate(value)]
        if isinstance(value, str):
            return self.string(value, path, lenient)
        return value

    def string(self, text: str, path: str, lenient: bool) -> str:
        def replace(match: re.Match[str]) -> str:
            kind, name = match.group(1), match.group(2).strip()
            if kind == "file":
                try:
                    return Path(name).read_text().strip()
                except OSError as exc:
                    raise ConfigError(
                        f"cannot read {name}: {exc.strerror}", file=self.file, key=path
                    ) from exc
            if name in self.env:
                return self.env[name]
            if lenient:
                return ""
            raise ConfigError(f"environment variable {name} is not set", file=self.file, key=path)

        return _REF.sub(replace, text)


#: A whole-file check names the key it is about at the start of its message.
_KEYED_MESSAGE = re.compile(r"^([\w$]+(?:\.[\w$]+|\[\d+\])+): (.+)$", re.DOTALL)


def _describe(error: ValidationError) -> tuple[str, str]:
    first = error.errors()[0]
    key = ""
    for part in first["loc"]:
        key += f"[{part}]" if isinstance(part, int) else (f".{part}" if key else str(part))
    message = first["msg"].removeprefix("Value error, ")
    if not key and (keyed := _KEYED_MESSAGE.match(message)):
        return keyed.group(1), keyed.group(2)
    return key, message


def _yaml_problem(error: yaml.YAMLError) -> str:
    """PyYAML's message on one line: what is wrong and where."""
    problem = getattr(error, "problem", None) or str(error).splitlines()[0]
    mark = getattr(error, "problem_mark", None)
    return f"{problem} (line {mark.line + 1}, column {mark.column + 1})" if mark else problem


def load_engine_config(
    path: Path, env: Mapping[str, str] | None = None, *, service: str | None = None
) -> EngineConfig:
    """Read, substitute and validate an engine configuration file.

    Args:
        path: The YAML file.
        env: Environment to substitute from (default: ``os.environ``).
        service: The service reading it: variables only under its ``UNUSED_SECRETS`` may be
            unset. None (the launcher, which checks for every service): all must be set.

    Raises:
        ConfigError: Naming the file, the key and the problem.
    """
    file = str(path)
    try:
        text = path.read_text()
        raw = yaml.safe_load(text)
    except OSError as exc:
        raise ConfigError(f"cannot read the configuration: {exc.strerror}", file=file) from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"not valid YAML: {_yaml_problem(exc)}", file=file) from exc
    if not text.strip():
        raise ConfigError("the file is empty", file=file)
    if not isinstance(raw, dict):
        raise ConfigError("the top level must be a mapping", file=file)
    environment = _environment(path, os.environ if env is None else env)
    unused = UNUSED_SECRETS.get(service or "", ())
    values = _Substituter(file, environment, unused).walk(raw, "", False)
    try:
        return EngineConfig.model_validate(values)
    except ValidationError as exc:
        key, message = _describe(exc)
        raise ConfigError(message, file=file, key=key) from exc
