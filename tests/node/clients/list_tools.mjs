// Listing tools the way the docs do: auto-pagination over tools.list, and the OpenAI-formatted
// list an agent hands to its model. Prints one JSON line.
import Arcade from "@arcadeai/arcadejs";

const client = new Arcade();
const toolkit = process.env.VK_TOOLKIT;

const names = [];
for await (const tool of client.tools.list({ toolkit, limit: 2 })) {
  names.push(tool.qualified_name);
}

const formatted = await client.tools.formatted.list({ format: "openai", toolkit });
const one = await client.tools.formatted.get(`${toolkit}.Ping`, { format: "anthropic" });
// arcadejs sends Arcade's metadata filter as a JSON string.
const readOnly = await client.tools.list({ toolkit, filter: JSON.stringify({ read_only: true }) });
const definition = await client.tools.get(`${toolkit}_ReticulateSplines`, { user_id: process.env.VK_USER_ID });

console.log(
  JSON.stringify({
    names,
    openai: formatted.items.map((item) => item.function.name),
    total_count: formatted.total_count,
    anthropic_name: one.name,
    requirements: definition.requirements,
    read_only: readOnly.items.map((tool) => tool.qualified_name),
  }),
);
