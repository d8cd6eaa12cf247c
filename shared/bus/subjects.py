"""NATS subjects: one constant per message, plus the JetStream stream names.

Request-reply subjects are served by queue groups (``QUEUE_*``) so replicas share the
load. Event subjects live under ``vk.events.>`` and are captured by the ``EVENTS_STREAM``
JetStream stream; core subscribers (the gateway's long-poll waiters) see them too.
"""

from typing import Final

# --- queue groups -------------------------------------------------------------------
QUEUE_AUTHORIZER: Final = "authorizer"
QUEUE_REFRESHER: Final = "token_refresher"
QUEUE_EXECUTOR: Final = "executor"
QUEUE_GATEWAY: Final = "gateway"
QUEUE_WEBHOOKS: Final = "webhooks"

SERVICES: Final = ("gateway", "authorizer", "token_refresher", "executor", "webhooks")

# --- health ---------------------------------------------------------------------------
HEALTH_PREFIX: Final = "vk.health"


def health_subject(service: str) -> str:
    """Subject a service answers pings on."""
    return f"{HEALTH_PREFIX}.{service}"


def instance_health_subject(service: str, instance: str) -> str:
    """Subject one replica answers pings on (for per-pod probes)."""
    safe = "".join(c if c.isalnum() or c in "-_" else "_" for c in instance)
    return f"{HEALTH_PREFIX}.{service}.{safe}"


# --- authorizer: request-reply --------------------------------------------------------
AUTH_START: Final = "vk.auth.start"
AUTH_STATUS: Final = "vk.auth.status"
AUTH_CALLBACK: Final = "vk.auth.callback"
AUTH_CONFIRM_USER: Final = "vk.auth.confirm_user"
AUTH_FLOW_INFO: Final = "vk.auth.flow_info"
# Verification ``oidc``: where the browser signs in for a flow, and the sign-in's return.
AUTH_VERIFY_SIGN_IN: Final = "vk.auth.verify_sign_in"
AUTH_VERIFY_CALLBACK: Final = "vk.auth.verify_callback"
# The console's list of a project's authorizations under way, and of starts per hour
# (services/authorizer/in_flight.py).
AUTH_IN_FLIGHT: Final = "vk.auth.in_flight"
AUTH_STARTED_COUNTS: Final = "vk.auth.started_counts"
AUTH_VERIFIER_TEST: Final = "vk.auth.verifier_test"
PROVIDERS_LIST: Final = "vk.admin.providers.list"
PROVIDERS_GET: Final = "vk.admin.providers.get"
PROVIDERS_CREATE: Final = "vk.admin.providers.create"
PROVIDERS_UPDATE: Final = "vk.admin.providers.update"
PROVIDERS_DELETE: Final = "vk.admin.providers.delete"
CONNECTIONS_LIST: Final = "vk.admin.connections.list"
CONNECTIONS_GET: Final = "vk.admin.connections.get"
CONNECTIONS_DELETE: Final = "vk.admin.connections.delete"
# A project's session verification settings (docs/arcade-compatibility.md §2.4).
VERIFICATION_SETTINGS_GET: Final = "vk.admin.settings.verification_get"
VERIFICATION_SETTINGS_PUT: Final = "vk.admin.settings.verification_put"

# --- token_refresher: request-reply ---------------------------------------------------
TOKEN_REFRESH: Final = "vk.tokens.refresh"
# Refreshes started, done, failed, late per hour: the console (services/token_refresher/refresh_counts.py).
REFRESH_COUNTS: Final = "vk.tokens.refresh_counts"

# --- executor: request-reply ----------------------------------------------------------
TOOLS_LIST: Final = "vk.tools.list"
TOOLS_GET: Final = "vk.tools.get"
TOOLS_AUTHORIZE: Final = "vk.tools.authorize"
TOOLS_EXECUTE: Final = "vk.tools.execute"
TOOLS_REQUIREMENTS: Final = "vk.tools.requirements"
TOOLS_SCHEDULE: Final = "vk.tools.schedule"
SCHEDULED_LIST: Final = "vk.tools.scheduled.list"
SCHEDULED_GET: Final = "vk.tools.scheduled.get"
EXECUTIONS_LIST: Final = "vk.admin.executions.list"
WORKERS_LIST: Final = "vk.admin.workers.list"
WORKERS_GET: Final = "vk.admin.workers.get"
WORKERS_CREATE: Final = "vk.admin.workers.create"
WORKERS_UPDATE: Final = "vk.admin.workers.update"
WORKERS_DELETE: Final = "vk.admin.workers.delete"
WORKERS_HEALTH: Final = "vk.admin.workers.health"
WORKERS_TOOLS: Final = "vk.admin.workers.tools"
WORKERS_TEST: Final = "vk.admin.workers.test"
SECRETS_LIST: Final = "vk.admin.secrets.list"
SECRETS_UPSERT: Final = "vk.admin.secrets.upsert"
SECRETS_DELETE: Final = "vk.admin.secrets.delete"
MCP_GATEWAYS_LIST: Final = "vk.admin.mcp_gateways.list"
MCP_GATEWAYS_GET: Final = "vk.admin.mcp_gateways.get"
MCP_GATEWAYS_CREATE: Final = "vk.admin.mcp_gateways.create"
MCP_GATEWAYS_UPDATE: Final = "vk.admin.mcp_gateways.update"
MCP_GATEWAYS_DELETE: Final = "vk.admin.mcp_gateways.delete"
PLUGINS_LIST: Final = "vk.admin.plugins.list"
PLUGINS_GET: Final = "vk.admin.plugins.get"
PLUGINS_CREATE: Final = "vk.admin.plugins.create"
PLUGINS_UPDATE: Final = "vk.admin.plugins.update"
PLUGINS_DELETE: Final = "vk.admin.plugins.delete"
HOOKS_LIST: Final = "vk.admin.hooks.list"
HOOKS_GET: Final = "vk.admin.hooks.get"
HOOKS_CREATE: Final = "vk.admin.hooks.create"
HOOKS_UPDATE: Final = "vk.admin.hooks.update"
HOOKS_DELETE: Final = "vk.admin.hooks.delete"
HOOKS_BULK: Final = "vk.admin.hooks.bulk"
# Broadcast (no queue group): every executor replica reloads its worker list.
WORKERS_CHANGED: Final = "vk.executor.workers.changed"
# Broadcast (no queue group): every executor replica drops its copy of a project's hook chains.
HOOKS_CHANGED: Final = "vk.executor.hooks.changed"

# --- gateway: broadcast -------------------------------------------------------------
# Broadcast (no queue group): what a write changed, so every gateway drops the answers it cached of
# it (``shared.contracts.answers.AnswersStale``; shared/bus/answer_cache.py).
ANSWERS_STALE: Final = "vk.gateway.answers.stale"

# --- webhooks: request-reply (the admin API of endpoints and dead letters) ------------
WEBHOOKS_ENDPOINTS_LIST: Final = "vk.admin.webhooks.endpoints.list"
WEBHOOKS_ENDPOINTS_GET: Final = "vk.admin.webhooks.endpoints.get"
WEBHOOKS_ENDPOINTS_CREATE: Final = "vk.admin.webhooks.endpoints.create"
WEBHOOKS_ENDPOINTS_UPDATE: Final = "vk.admin.webhooks.endpoints.update"
WEBHOOKS_ENDPOINTS_DELETE: Final = "vk.admin.webhooks.endpoints.delete"
WEBHOOKS_ENDPOINTS_ROTATE: Final = "vk.admin.webhooks.endpoints.rotate_secret"
WEBHOOKS_DEAD_LIST: Final = "vk.admin.webhooks.dead_letters.list"
WEBHOOKS_DEAD_REPLAY: Final = "vk.admin.webhooks.dead_letters.replay"
WEBHOOKS_DEAD_REPLAY_ALL: Final = "vk.admin.webhooks.dead_letters.replay_all"
WEBHOOKS_DEAD_DELETE: Final = "vk.admin.webhooks.dead_letters.delete"
# Events per project, type and hour, counted as the fan-out reads them (the console's overview).
WEBHOOKS_EVENT_COUNTS: Final = "vk.admin.webhooks.event_counts"
# The latest failed authorizations and refreshes of a project, with their reasons (the console).
WEBHOOKS_RECENT_FAILURES: Final = "vk.admin.webhooks.recent_failures"
# The latest attempts per endpoint, for the console (services/webhooks/delivery_log.py).
WEBHOOKS_RECENT_DELIVERIES: Final = "vk.admin.webhooks.recent_deliveries"

# --- events (JetStream) ---------------------------------------------------------------
EVENTS_STREAM: Final = "VALETKEY_EVENTS"
EVENTS_ALL: Final = "vk.events.>"
EVT_AUTHORIZATION_COMPLETED: Final = "vk.events.authorization.completed"
EVT_AUTHORIZATION_FAILED: Final = "vk.events.authorization.failed"
EVT_AUTHORIZATION_ALL: Final = "vk.events.authorization.>"
EVT_TOKEN_REFRESHED: Final = "vk.events.token.refreshed"
EVT_TOKEN_REFRESH_FAILED: Final = "vk.events.token.refresh_failed"
EVT_CONNECTION_REVOKED: Final = "vk.events.connection.revoked"
EVT_TOOL_EXECUTION_COMPLETED: Final = "vk.events.tool.execution.completed"

# --- webhooks (JetStream work queue of per-endpoint deliveries, owned by the webhooks service)
WEBHOOKS_STREAM: Final = "VALETKEY_WEBHOOKS"
WEBHOOKS_ALL: Final = "vk.webhooks.>"
WEBHOOKS_DELIVER_PREFIX: Final = "vk.webhooks.deliver"


def webhook_deliver_subject(namespace: str) -> str:
    """Subject of the deliveries of one deployment (``namespace`` is its sanitised key prefix)."""
    return f"{WEBHOOKS_DELIVER_PREFIX}.{namespace}"
