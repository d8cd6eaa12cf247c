"""Everything ``valetkey up`` checks before it starts a single process.

A broken configuration should fail at once, as one line naming the file, the key and the
problem, not after a health check times out with the real message in a log file. This
runs, in the launcher's own process, the checks each service would make of its
configuration as it starts: ``engine.yaml`` and the environment, the root, webhook and bus
keys (outside development), the API keys, the providers against the catalog, and that every configured
toolkit loads.
"""

from __future__ import annotations

from collections.abc import Mapping

from shared.errors import ConfigError
from shared.providers.registry import static_records
from shared.runtime.settings import Settings, load_settings


def check(env: Mapping[str, str]) -> Settings:
    """The settings, when every service would start with them; raises :class:`ConfigError` otherwise."""
    settings = load_settings(env)
    file = str(settings.runtime.config)
    try:
        settings.cipher()
        settings.webhook_cipher()
        settings.bus_seal()
        if not settings.api_keys():
            raise ConfigError("no API key: set VALETKEY_API_KEY or api.keys", key="api.keys")
        static_records(settings.engine.auth.providers)
        _check_toolkits(settings)
    except ConfigError as exc:
        raise ConfigError(exc.problem, file=exc.file or file, key=exc.key) from exc
    return settings


def _check_toolkits(settings: Settings) -> None:
    if not settings.engine.tools.toolkits:
        return
    # The executor's own loading rule; imported here only when there are toolkits to load.
    from services.executor.sources import load_toolkit

    for index, name in enumerate(settings.engine.tools.toolkits):
        try:
            load_toolkit(name)
        except ConfigError as exc:
            raise ConfigError(exc.problem, key=f"tools.toolkits[{index}]") from exc
