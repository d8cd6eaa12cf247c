// Seed 003 ("Authorized Tool Calling", JavaScript tab), unchanged but for what the test varies:
// the client reads ARCADE_BASE_URL and ARCADE_API_KEY itself; the user, tool and its input come
// from VK_USER_ID, VK_TOOL_NAME and VK_TOOL_INPUT. The last line is JSON for the test to read.
import Arcade from "@arcadeai/arcadejs";

const client = new Arcade(); // Automatically finds the `ARCADE_API_KEY` env variable

const userId = process.env.VK_USER_ID;
const toolName = process.env.VK_TOOL_NAME;

// Request access to the user's account
const authResponse = await client.tools.authorize({
  tool_name: toolName,
  user_id: userId,
});

if (authResponse.status !== "completed") {
  console.log(`Click this link to authorize: ${authResponse.url}`);
}

await client.auth.waitForCompletion(authResponse);

const response = await client.tools.execute({
  tool_name: toolName,
  input: JSON.parse(process.env.VK_TOOL_INPUT ?? "{}"),
  user_id: userId,
});

console.log(
  JSON.stringify({
    authorize_status: authResponse.status,
    success: response.success,
    status: response.status,
    value: response.output?.value,
    error: response.output?.error ?? null,
  }),
);
