// Error handling as an app written against arcadejs does it: each call's outcome is the
// error class name, its HTTP status and the parsed body. Prints one JSON line.
import Arcade, {
  APIError,
  AuthenticationError,
  BadRequestError,
  NotFoundError,
  PermissionDeniedError,
} from "@arcadeai/arcadejs";

const client = new Arcade({ maxRetries: 0 });
const kinds = { AuthenticationError, BadRequestError, NotFoundError, PermissionDeniedError };

function kindOf(error) {
  for (const [name, cls] of Object.entries(kinds)) {
    if (error instanceof cls) return name;
  }
  return error instanceof APIError ? "APIError" : error.constructor.name;
}

async function outcome(call) {
  try {
    await call();
    return { kind: "ok", status: null };
  } catch (error) {
    return { kind: kindOf(error), status: error.status ?? null, body: error.error ?? null };
  }
}

const cases = {
  list_tools: () => client.tools.list(),
  get_unknown_tool: () => client.tools.get("Hooli.NoSuchTool"),
  execute_unknown_tool: () => client.tools.execute({ tool_name: "Hooli.NoSuchTool" }),
  authorize_unknown_tool: () => client.tools.authorize({ tool_name: "Hooli.NoSuchTool", user_id: "u" }),
  unparseable_tool_name: () => client.tools.get("NoSeparatorHere"),
  unknown_authorization: () => client.auth.status({ id: "ac_no_such_authorization" }),
  unknown_worker: () => client.workers.get("no-such-worker"),
  unknown_provider: () => client.admin.authProviders.get("no-such-provider"),
};

const results = {};
for (const [name, call] of Object.entries(cases)) {
  results[name] = await outcome(call);
}
console.log(JSON.stringify(results));
