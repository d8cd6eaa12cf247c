// Seed 004 ("Get a token for a user", JavaScript tab), unchanged but for what the test varies:
// the client reads ARCADE_BASE_URL and ARCADE_API_KEY itself; user, provider and scopes come
// from VK_USER_ID, VK_PROVIDER and VK_SCOPES. The last line is JSON for the test to read.
import { Arcade } from "@arcadeai/arcadejs";

const client = new Arcade(); // Automatically finds the `ARCADE_API_KEY` env variable

const user_id = process.env.VK_USER_ID;
const provider = process.env.VK_PROVIDER;
const scopes = (process.env.VK_SCOPES ?? "").split(" ").filter(Boolean);

// Start the authorization process
let auth_response = await client.auth.start(user_id, provider, {
  scopes: scopes,
});
const first_status = auth_response.status;

if (auth_response.status !== "completed") {
  console.log("Please complete the authorization challenge in your browser:");
  console.log(auth_response.url);
}

// Wait for the authorization to complete
auth_response = await client.auth.waitForCompletion(auth_response);

console.log(
  JSON.stringify({
    first_status,
    status: auth_response.status,
    id: auth_response.id,
    token: auth_response.context?.token,
  }),
);
