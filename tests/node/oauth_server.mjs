// Test-only launcher for a real OAuth 2.0 / OpenID Connect authorization server.
//
// The server itself is oidc-provider (npm); this file only turns a small JSON
// config into oidc-provider configuration and adds two admin endpoints that
// tests use to observe the token endpoint. Never expose this outside loopback:
// logins accept any password.
//
// Usage: node oauth_server.mjs CONFIG.json   (or OAUTH_SERVER_CONFIG=CONFIG.json)
// Config: {"port": 8123, "access_token_ttl": 60, "refresh_token_ttl": 1209600,
//          "clock_tolerance": 0, "exit_on_stdin_close": false, "clients": [{"client_id", "client_secret", "redirect_uris",
//                       "token_endpoint_auth_method", "require_pkce"}],
//          "refresh_latency_ms": 0, "refresh_reuse_grace_seconds": 0, "jwt_resources": {}}
//
// jwt_resources ({resource server URL: access token TTL in seconds}, RFC 8707) turns resource
// indicators on: a client that asks for one of them (a `resource` parameter at /auth and
// /token) gets a JWT access token whose `aud` is that resource, with the scope `mcp` (an MCP
// gateway's token), living that long. Without it, access tokens stay opaque as before.
//
// Refresh tokens rotate, and reusing a spent one revokes the whole grant (oidc-provider's
// reuse detection). Two optional knobs shape the refresh grant like a remote provider's:
// refresh_latency_ms delays each refresh grant before the server looks the token up (a
// client that dies meanwhile still spends it: the server finishes what it received), and
// refresh_reuse_grace_seconds accepts a spent refresh token once more for that long after it
// was spent (the rotation grace period some providers document) instead of revoking.

import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';

import Provider, { errors } from 'oidc-provider';

const HOST = '127.0.0.1';

// Standard OIDC scopes plus provider-specific ones our engine asks for. Declaring
// them in `scopes` makes them grantable without resource indicators, so access
// tokens stay opaque and (with `openid`) usable at userinfo.
const CUSTOM_SCOPES = ['read', 'write', 'repo', 'scope1', 'scope2'];

function readConfig() {
  const path = process.argv[2] ?? process.env.OAUTH_SERVER_CONFIG;
  if (!path) {
    throw new Error('usage: node oauth_server.mjs CONFIG.json (or set OAUTH_SERVER_CONFIG)');
  }
  return JSON.parse(readFileSync(path, 'utf8'));
}

function toClientMetadata(client) {
  const authMethod = client.token_endpoint_auth_method ?? 'client_secret_basic';
  const metadata = {
    client_id: client.client_id,
    redirect_uris: client.redirect_uris,
    token_endpoint_auth_method: authMethod,
    grant_types: ['authorization_code', 'refresh_token'],
    response_types: ['code'],
  };
  // oidc-provider rejects a secret on a public client, so only confidential ones get it.
  if (authMethod !== 'none') {
    metadata.client_secret = client.client_secret;
  }
  return metadata;
}

// A fresh signing key per run: id_tokens need one, and the built-in dev key
// triggers a warning and would be shared by every test server.
function signingJwks() {
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  return { keys: [{ ...privateKey.export({ format: 'jwk' }), alg: 'RS256', use: 'sig' }] };
}

// Every login is accepted; the typed login name becomes the subject, and the
// profile claims are derived from it so tests can assert on them.
function findAccount(_ctx, sub) {
  return {
    accountId: sub,
    claims: () => ({
      sub,
      name: sub,
      email: `${sub}@example.test`,
      email_verified: true,
    }),
  };
}

function providerConfiguration(config) {
  const pkceClients = new Set(
    config.clients.filter((client) => client.require_pkce).map((client) => client.client_id),
  );
  return {
    clients: config.clients.map(toClientMetadata),
    jwks: signingJwks(),
    cookies: { keys: [randomBytes(32).toString('hex')] },
    findAccount,
    responseTypes: ['code'],
    scopes: ['openid', 'offline_access', 'profile', 'email', ...CUSTOM_SCOPES],
    claims: {
      openid: ['sub'],
      profile: ['name'],
      email: ['email', 'email_verified'],
    },
    features: {
      devInteractions: { enabled: true },
      userinfo: { enabled: true },
      revocation: { enabled: true },
      // Off unless jwt_resources is given: a `resource` parameter would mint audience-bound
      // tokens that userinfo refuses; most tests want one kind of opaque token.
      resourceIndicators: resourceIndicators(config.jwt_resources ?? {}),
    },
    // S256 is always accepted; it is mandatory only for clients that ask for it
    // (the library default would force it on every public client).
    pkce: { required: (_ctx, client) => pkceClients.has(client.clientId) },
    // By default a refresh token needs `offline_access` + prompt=consent. Real
    // providers (GitHub, Google with access_type=offline...) just issue one, and
    // that is what our broker must handle.
    issueRefreshToken: async (_ctx, client) => client.grantTypeAllowed('refresh_token'),
    // Refresh tokens must outlive the browser session of the scripted login.
    expiresWithSession: async () => false,
    rotateRefreshToken: true,
    // The library default (15 s) keeps expired tokens valid that long; tests with
    // a 1-5 s access token TTL need expiry to happen on time.
    clockTolerance: config.clock_tolerance ?? 0,
    ttl: {
      AccessToken: (_ctx, token) => token.resourceServer?.accessTokenTTL ?? config.access_token_ttl ?? 3600,
      RefreshToken: config.refresh_token_ttl ?? 14 * 24 * 3600,
      Grant: config.refresh_token_ttl ?? 14 * 24 * 3600,
    },
    // Error pages as JSON keep failures readable in test output.
    renderError: (ctx, out) => {
      ctx.type = 'json';
      ctx.body = out;
    },
  };
}

function resourceIndicators(resources) {
  if (Object.keys(resources).length === 0) return { enabled: false };
  return {
    enabled: true,
    defaultResource: () => undefined,
    useGrantedResource: () => true,
    getResourceServerInfo: (_ctx, resource) => {
      if (!(resource in resources)) throw new errors.InvalidTarget();
      return {
        scope: 'mcp',
        audience: resource,
        accessTokenFormat: 'jwt',
        accessTokenTTL: resources[resource],
        jwt: { sign: { alg: 'RS256' } },
      };
    },
  };
}

function emptyStats() {
  return {
    token_requests: {},
    token_errors: {},
    token_auth_methods: {},
    userinfo_requests: 0,
    grants_revoked: 0,
    refresh_reused_within_grace: 0,
  };
}

const sleep = (ms) => new Promise((resolve) => { setTimeout(resolve, ms); });

// Wraps the refresh token lookup (only the refresh grant, revocation and introspection use
// it): the latency comes first, then a spent token inside the grace period is handed to the
// grant as if unspent, so the grant rotates it again instead of revoking.
function shapeRefreshGrant(provider, config, state) {
  const latency = config.refresh_latency_ms ?? 0;
  const grace = config.refresh_reuse_grace_seconds ?? 0;
  const { RefreshToken } = provider;
  const find = RefreshToken.find.bind(RefreshToken);
  RefreshToken.find = async (...args) => {
    if (latency > 0) await sleep(latency);
    const token = await find(...args);
    if (token?.consumed && Date.now() / 1000 - token.consumed <= grace) {
      token.consumed = undefined;
      state.stats.refresh_reused_within_grace += 1;
    }
    return token;
  };
}

// oidc-provider accepts client_secret_basic and client_secret_post for any client
// registered with either, so tests that care which one was used read it here.
function clientAuthMethod(ctx) {
  if (ctx.get('authorization').toLowerCase().startsWith('basic ')) return 'client_secret_basic';
  if (ctx.oidc?.params?.client_secret) return 'client_secret_post';
  if (ctx.oidc?.params?.client_assertion) return 'client_assertion';
  return 'none';
}

function increment(counter, key) {
  counter[key] = (counter[key] ?? 0) + 1;
}

// Runs before oidc-provider's routes. Counting after `next()` lets the provider
// parse the body itself, and ctx.oidc.params then holds the grant_type.
function adminMiddleware(state) {
  return async (ctx, next) => {
    if (ctx.path === '/__admin/stats' && ctx.method === 'GET') {
      ctx.body = { ...state.stats, token_in_flight: state.tokenInFlight };
      return;
    }
    if (ctx.path === '/__admin/reset' && ctx.method === 'POST') {
      state.stats = emptyStats();
      ctx.status = 204;
      return;
    }
    const isToken = ctx.path === '/token' && ctx.method === 'POST';
    if (isToken) state.tokenInFlight += 1;
    try {
      await next();
    } finally {
      if (isToken) state.tokenInFlight -= 1;
      record(state.stats, ctx);
    }
  };
}

function record(stats, ctx) {
  if (ctx.path === '/token' && ctx.method === 'POST') {
    const grantType = ctx.oidc?.params?.grant_type ?? 'unknown';
    increment(stats.token_requests, grantType);
    increment(stats.token_auth_methods, clientAuthMethod(ctx));
    if (ctx.status >= 400) increment(stats.token_errors, grantType);
  } else if (ctx.path === '/me') {
    stats.userinfo_requests += 1;
  }
}

function main() {
  const config = readConfig();
  const issuer = `http://${HOST}:${config.port}`;
  const provider = new Provider(issuer, providerConfiguration(config));
  const state = { stats: emptyStats(), tokenInFlight: 0 };
  provider.use(adminMiddleware(state));
  provider.on('grant.revoked', () => { state.stats.grants_revoked += 1; });
  shapeRefreshGrant(provider, config, state);

  const server = provider.listen(config.port, HOST, () => {
    console.log(`listening on ${issuer}`);
  });
  // Keep-alive connections from test clients would otherwise hold close() open.
  const stop = () => {
    server.close(() => process.exit(0));
    server.closeAllConnections();
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  // The Python helper holds our stdin open; if the test process dies without
  // stopping us (even SIGKILL), the pipe closes and we leave instead of lingering.
  if (config.exit_on_stdin_close) {
    process.stdin.on('end', stop);
    process.stdin.resume();
  }
}

main();
