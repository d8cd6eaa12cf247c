// A scheduled tool call with arcadejs, in two phases around an executor restart (VK_PHASE):
// "schedule" runs VK_TOOL_NAME with VK_TOOL_INPUT for VK_USER_ID at VK_RUN_AT and reads it back
// from tools.scheduled.list; "read" waits in tools.scheduled.get until VK_EXECUTION_ID ran.
// The client reads ARCADE_BASE_URL and ARCADE_API_KEY itself. The last line is JSON for the test.
import { Arcade } from "@arcadeai/arcadejs";

const client = new Arcade();

if (process.env.VK_PHASE === "schedule") {
  const scheduled = await client.tools.execute({
    tool_name: process.env.VK_TOOL_NAME,
    input: JSON.parse(process.env.VK_TOOL_INPUT ?? "{}"),
    user_id: process.env.VK_USER_ID,
    run_at: process.env.VK_RUN_AT,
  });
  const listed = [];
  for await (const execution of client.tools.scheduled.list({ limit: 50 })) {
    if (execution.id === scheduled.id) listed.push(execution.execution_status);
  }
  console.log(JSON.stringify({ id: scheduled.id, status: scheduled.status, type: scheduled.execution_type, listed }));
} else {
  const id = process.env.VK_EXECUTION_ID;
  let run = await client.tools.scheduled.get(id);
  for (let i = 0; i < 400 && !["success", "failed"].includes(run.execution_status); i++) {
    await new Promise((resolve) => setTimeout(resolve, 100));
    run = await client.tools.scheduled.get(id);
  }
  const attempts = run.attempts ?? [];
  console.log(
    JSON.stringify({
      status: run.execution_status,
      attempts: attempts.length,
      success: attempts[0]?.success,
      value: attempts[0]?.output?.value,
    }),
  );
}
