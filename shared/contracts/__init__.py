"""Message contracts: one frozen pydantic model per message the services exchange.

Requests are imperative (``StartAuthorization``), events past tense
(``AuthorizationCompleted``). Replies travel in the envelope of
:mod:`shared.bus.messaging` (``{"ok": true, "result": ...}`` or ``{"ok": false, "error": ...}``).
"""
