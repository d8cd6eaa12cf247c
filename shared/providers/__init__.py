"""Provider layer: engine.yaml provider models, built-in catalog, pure OAuth builders/parsers.

Modules: :mod:`.models` (config and result models), :mod:`.placeholders` (Arcade's
``{{...}}`` placeholders and where each has a value), :mod:`.catalog` (the built-ins of
``catalog*.yaml`` and ``resolve``), :mod:`.oauth` (request builders, parsers, PKCE), :mod:`.response_map`
(JSONPath + ``join``/``jwt_decode``), :mod:`.http` (sending with aiohttp), :mod:`.client`
(the one client the services call: exchange, refresh, user info, revoke).

:mod:`.registry` holds every provider the engine knows: from ``engine.yaml`` and created
at runtime by the admin API.
"""
